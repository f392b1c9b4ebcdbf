//! The experiment file as written: serde reads the TOML into these types, which keep the byte
//! span of every key and value (so an error inside the third `[[variant]]` points at that
//! table's line) and the keys in the order they were written. Nothing here knows what a key
//! means: [`super::validate`] decides that, in one place.

use std::fmt;

use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use toml::Spanned;

/// A key as written, with its span.
pub type Key = Spanned<String>;

/// A value as written, with its span.
pub type Item = Spanned<toml::Value>;

/// A table: its keys and values in file order.
#[derive(Debug, Default)]
pub struct Table {
    pub entries: Vec<(Key, Item)>,
}

impl Table {
    pub fn get(&self, key: &str) -> Option<&Item> {
        self.entries
            .iter()
            .find(|(k, _)| k.get_ref() == key)
            .map(|(_, v)| v)
    }

    pub fn contains(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Where a table was expected: the table, or what was written instead.
#[derive(Debug)]
pub enum TableOr<T> {
    Table(T),
    Other(toml::Value),
}

/// Where an array of tables (`[[variant]]`) was expected: the tables, or what was written.
#[derive(Debug)]
pub enum TablesOr {
    Tables(Vec<Spanned<TableOr<Table>>>),
    Other(toml::Value),
}

/// `[grid]`: its settings, and its `[[grid.zip]]` tables.
#[derive(Debug, Default)]
pub struct Grid {
    pub settings: Table,
    pub zip: Option<Spanned<TablesOr>>,
}

/// The whole file.
#[derive(Debug, Default)]
pub struct File {
    pub name: Option<(Key, Item)>,
    pub description: Option<(Key, Item)>,
    pub data: Option<(Key, Spanned<TableOr<Table>>)>,
    pub grid: Option<(Key, Spanned<TableOr<Grid>>)>,
    pub search: Option<(Key, Spanned<TableOr<Table>>)>,
    pub variant: Option<(Key, Spanned<TablesOr>)>,
    /// Keys that are none of the above, for the "unknown key" error.
    pub unknown: Vec<Key>,
}

/// The top-level keys of [`File`], in documented order.
pub const TOP_KEYS: &[&str] = &["name", "description", "data", "grid", "search", "variant"];

fn sorted(mut entries: Vec<(Key, Item)>) -> Vec<(Key, Item)> {
    entries.sort_by_key(|(k, _)| k.span().start);
    entries
}

/// Collects the entries of a map, keys with spans, sorted into file order (toml hands them over
/// sorted by name); `special` takes the keys whose values are not plain values.
fn entries<'de, A: MapAccess<'de>>(
    mut map: A,
    mut special: impl FnMut(&Key, &mut A) -> Result<bool, A::Error>,
) -> Result<Vec<(Key, Item)>, A::Error> {
    let mut out = Vec::new();
    while let Some(key) = map.next_key::<Key>()? {
        if !special(&key, &mut map)? {
            let value = map.next_value::<Item>()?;
            out.push((key, value));
        }
    }
    Ok(sorted(out))
}

/// Implements the visitor methods of a value that is not a table, recording it as `Other`.
macro_rules! not_a_table {
    ($other:path) => {
        fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
            Ok($other(toml::Value::Boolean(v)))
        }
        fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
            Ok($other(toml::Value::Integer(v)))
        }
        fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
            Ok($other(toml::Value::Integer(v as i64)))
        }
        fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
            Ok($other(toml::Value::Float(v)))
        }
        fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
            Ok($other(toml::Value::String(v.to_string())))
        }
    };
}

struct TableVisitor;

impl<'de> Visitor<'de> for TableVisitor {
    type Value = TableOr<Table>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a table")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        Ok(TableOr::Table(Table {
            entries: entries(map, |_, _| Ok(false))?,
        }))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(v) = seq.next_element::<toml::Value>()? {
            items.push(v);
        }
        Ok(TableOr::Other(toml::Value::Array(items)))
    }

    not_a_table!(TableOr::Other);
}

impl<'de> Deserialize<'de> for TableOr<Table> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TableVisitor)
    }
}

struct TablesVisitor;

impl<'de> Visitor<'de> for TablesVisitor {
    type Value = TablesOr;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of tables")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut tables = Vec::new();
        while let Some(t) = seq.next_element::<Spanned<TableOr<Table>>>()? {
            tables.push(t);
        }
        Ok(TablesOr::Tables(tables))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(TablesOr::Other(toml::Value::Table(Default::default())))
    }

    not_a_table!(TablesOr::Other);
}

impl<'de> Deserialize<'de> for TablesOr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TablesVisitor)
    }
}

struct GridVisitor;

impl<'de> Visitor<'de> for GridVisitor {
    type Value = TableOr<Grid>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a table")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let mut zip = None;
        let settings = entries(map, |key, map| {
            if key.get_ref() == "zip" {
                zip = Some(map.next_value()?);
                return Ok(true);
            }
            Ok(false)
        })?;
        Ok(TableOr::Table(Grid {
            settings: Table { entries: settings },
            zip,
        }))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        match TableVisitor.visit_seq(seq)? {
            TableOr::Other(v) => Ok(TableOr::Other(v)),
            TableOr::Table(_) => unreachable!("a sequence is never a table"),
        }
    }

    not_a_table!(TableOr::Other);
}

impl<'de> Deserialize<'de> for TableOr<Grid> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(GridVisitor)
    }
}

struct FileVisitor;

impl<'de> Visitor<'de> for FileVisitor {
    type Value = File;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an experiment file")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<File, A::Error> {
        let mut file = File::default();
        while let Some(key) = map.next_key::<Key>()? {
            match key.get_ref().as_str() {
                "name" => file.name = Some((key, map.next_value()?)),
                "description" => file.description = Some((key, map.next_value()?)),
                "data" => file.data = Some((key, map.next_value()?)),
                "grid" => file.grid = Some((key, map.next_value()?)),
                "search" => file.search = Some((key, map.next_value()?)),
                "variant" => file.variant = Some((key, map.next_value()?)),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    file.unknown.push(key);
                }
            }
        }
        file.unknown.sort_by_key(|k| k.span().start);
        Ok(file)
    }
}

impl<'de> Deserialize<'de> for File {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(FileVisitor)
    }
}

/// Reads the text of an experiment file; a TOML syntax error comes back as toml's error, with
/// its span.
pub fn parse(text: &str) -> Result<File, toml::de::Error> {
    toml::from_str(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_reach_inside_arrays_of_tables() {
        let text = "name = \"x\"\n[grid]\neta = [1.0, 2]\n[[grid.zip]]\nlambda = [1.0]\n\
                    [[variant]]\nname = \"a\"\n[[variant]]\nname = \"b\"\neta = 3\n";
        let f = parse(text).unwrap();
        let Some((_, grid)) = &f.grid else { panic!() };
        let TableOr::Table(grid) = grid.get_ref() else {
            panic!()
        };
        assert_eq!(grid.settings.entries[0].0.get_ref(), "eta");
        let Some(zips) = &grid.zip else { panic!() };
        let TablesOr::Tables(zips) = zips.get_ref() else {
            panic!()
        };
        let TableOr::Table(zip) = zips[0].get_ref() else {
            panic!()
        };
        let (lambda, _) = &zip.entries[0];
        assert_eq!(&text[lambda.span()], "lambda");
        let Some((_, variants)) = &f.variant else {
            panic!()
        };
        let TablesOr::Tables(variants) = variants.get_ref() else {
            panic!()
        };
        let TableOr::Table(second) = variants[1].get_ref() else {
            panic!()
        };
        // in file order, and the second variant's `eta` is located on its own line
        let keys: Vec<&str> = second
            .entries
            .iter()
            .map(|(k, _)| k.get_ref().as_str())
            .collect();
        assert_eq!(keys, ["name", "eta"]);
        let eta = second.get("eta").unwrap();
        assert_eq!(&text[eta.span()], "3");
        assert!(text[..eta.span().start].ends_with("name = \"b\"\neta = "));
    }

    #[test]
    fn a_value_where_a_table_belongs_is_kept_for_the_error() {
        let f = parse("grid = 3\nvariant = \"x\"\ndata = [1]\nzzz = 1\n").unwrap();
        assert!(matches!(
            f.grid.unwrap().1.get_ref(),
            TableOr::Other(toml::Value::Integer(3))
        ));
        assert!(matches!(f.variant.unwrap().1.get_ref(), TablesOr::Other(_)));
        assert!(matches!(f.data.unwrap().1.get_ref(), TableOr::Other(_)));
        assert_eq!(f.unknown[0].get_ref(), "zzz");
    }
}
