//! Where a run's data set comes from, and why: the one owner of that decision (`runner` trains
//! on what [`locate`] picks, and `runner data` prints the same [`Located`]).
//!
//! A folder the experiment file names (`data.dir`) is the only place looked at: it is found in
//! the current folder, or beside the experiment file and in its parents, or it is an error. When
//! the file names none, these are tried in turn, and the first that holds the data set is used:
//! 1. `$RUNNER_DATA_DIR/NAME` (NAME is the data set's name, `mnist` or `fashion-mnist`) when the
//!    variable is set: an explicit setting, so a folder without the files there is an error, not
//!    a reason to look elsewhere;
//! 2. the data set's default folder (`data/mnist` for MNIST, found as a named `data.dir` is;
//!    `/usr/share/datasets/fashion-mnist` for Fashion-MNIST, where Debian installs it);
//! 3. the platform's data folder: `runner/NAME` in `$XDG_DATA_HOME` or `~/.local/share` on Linux,
//!    `~/Library/Application Support` on macOS, `%APPDATA%` on Windows (where `runner data fetch`
//!    puts MNIST when `RUNNER_DATA_DIR` is not set);
//! 4. for MNIST, the copy built into the binary ([`super::built_in`]).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::{built_in, DatasetKind, FILE_NAMES};

/// The environment variable naming the folder that holds the data sets (each in its own
/// subfolder, `mnist/` for MNIST).
pub const DATA_DIR_VARIABLE: &str = "RUNNER_DATA_DIR";

/// Where the data set is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A folder holding the four files.
    Folder(PathBuf),
    /// The MNIST built into the binary.
    BuiltIn,
}

/// One place looked at: how it is described, the folder it means (if any), what was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub rule: String,
    pub path: Option<PathBuf>,
    pub found: String,
}

/// The outcome: the source used (or why there is none) and every place looked at, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub kind: DatasetKind,
    pub places: Vec<Place>,
    /// The index in `places` of the one used.
    pub used: Option<usize>,
    pub source: Result<Source, NotFound>,
}

/// Why no data set was found: what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotFound {
    /// The setting at fault, when one is (`data.dir`, `RUNNER_DATA_DIR`).
    pub setting: Option<&'static str>,
    pub message: String,
}

/// What [`locate`] needs to know: the experiment's `[data]`, and the process's surroundings
/// (filled by [`Request::new`] from the environment; tests set them).
#[derive(Debug, Clone)]
pub struct Request {
    pub kind: DatasetKind,
    /// `data.dir` when the experiment file names it.
    pub named_dir: Option<PathBuf>,
    /// The current folder, where relative folders are looked for first (`.` in a real run).
    pub cwd: PathBuf,
    /// The experiment file's folder (relative folders are also looked for there and above).
    pub base: PathBuf,
    /// The value of [`DATA_DIR_VARIABLE`], when set and not empty.
    pub data_dir_variable: Option<PathBuf>,
    /// The platform's data folder for `runner` (`None` where the platform has none).
    pub platform_dir: Option<PathBuf>,
    /// Whether this binary has MNIST built in.
    pub built_in: bool,
}

impl Request {
    /// A request for `kind` (with the folder the experiment file names, if it does, and the
    /// experiment file's folder) in this process's surroundings.
    pub fn new(kind: DatasetKind, named_dir: Option<PathBuf>, experiment: &Path) -> Request {
        Request {
            kind,
            named_dir,
            cwd: PathBuf::from("."),
            base: experiment.parent().unwrap_or(Path::new(".")).to_path_buf(),
            data_dir_variable: data_dir_variable(),
            platform_dir: platform_dir(),
            built_in: built_in_available(),
        }
    }
}

/// The value of [`DATA_DIR_VARIABLE`], when it is set and not empty.
fn data_dir_variable() -> Option<PathBuf> {
    std::env::var_os(DATA_DIR_VARIABLE)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// `runner`'s folder in the platform's data folder (`~/.local/share/runner` on Linux).
pub fn platform_dir() -> Option<PathBuf> {
    dirs::data_dir().map(|d| d.join("runner"))
}

/// Whether this binary has MNIST built in (a hidden fault point, `RUNNER_FAULT=no-built-in`,
/// makes it act as a binary built without it, for the tests of the packaged crate's path).
pub fn built_in_available() -> bool {
    built_in::gzip_files().is_some() && !crate::fault::is_set("no-built-in")
}

/// Where `fetch` puts a data set by default: `$RUNNER_DATA_DIR/NAME`, else the platform's data
/// folder's `runner/NAME`.
pub fn fetch_dir(kind: DatasetKind) -> Option<PathBuf> {
    let root = data_dir_variable().or_else(platform_dir)?;
    Some(root.join(kind.name()))
}

/// Finds `dir` when it exists, absolute or relative to the current folder (`cwd`; kept as
/// written when that is `.`), else beside the experiment file (`base`) and in its parents.
fn find_folder(dir: &Path, cwd: &Path, base: &Path) -> Option<PathBuf> {
    if dir.is_absolute() {
        return dir.is_dir().then(|| dir.to_path_buf());
    }
    let here = cwd.join(dir);
    if here.is_dir() {
        return Some(if cwd == Path::new(".") {
            dir.to_path_buf()
        } else {
            here
        });
    }
    let base = if base.as_os_str().is_empty() {
        Path::new(".")
    } else {
        base
    };
    let base = std::fs::canonicalize(base).unwrap_or_else(|_| base.to_path_buf());
    base.ancestors()
        .map(|a| a.join(dir))
        .find(|candidate| candidate.is_dir())
}

/// The standard files missing from `dir` (each as `name.gz` or `name`).
fn missing_files(dir: &Path) -> Vec<&'static str> {
    FILE_NAMES
        .into_iter()
        .filter(|name| !dir.join(format!("{name}.gz")).is_file() && !dir.join(name).is_file())
        .collect()
}

/// What a folder holds, in words, and whether it holds the four files.
fn look_at(dir: &Path) -> (bool, String) {
    if !dir.is_dir() {
        return (false, "no such folder".to_string());
    }
    match missing_files(dir).as_slice() {
        [] => (true, "holds the four files".to_string()),
        missing => (false, format!("no {}", missing.join(", "))),
    }
}

/// Decides where the data set of `request` comes from (see the module's rules).
pub fn locate(request: &Request) -> Located {
    let mut looked = Looked {
        kind: request.kind,
        places: Vec::new(),
    };
    if let Some(dir) = &request.named_dir {
        return looked.named(dir, request);
    }
    if let Some(root) = &request.data_dir_variable {
        return looked.variable(root);
    }
    looked.place(
        format!("${DATA_DIR_VARIABLE}/{}", request.kind.name()),
        None,
        "not set",
    );
    let mut looked = match looked.default_folder(request) {
        Ok(found) => return found,
        Err(looked) => looked,
    };
    let platform = request
        .platform_dir
        .as_ref()
        .map(|p| p.join(request.kind.name()));
    looked = match looked.platform(platform.as_deref()) {
        Ok(found) => return found,
        Err(looked) => looked,
    };
    if request.kind == DatasetKind::Mnist {
        looked.place(
            "built into runner".to_string(),
            None,
            if request.built_in {
                "yes: the repository's four files, 11.4 MB"
            } else {
                "no: this binary was built without them"
            },
        );
        if request.built_in {
            return looked.found(Source::BuiltIn);
        }
    }
    looked.nothing(platform.as_deref())
}

/// The places looked at so far, in order.
struct Looked {
    kind: DatasetKind,
    places: Vec<Place>,
}

impl Looked {
    fn place(&mut self, rule: String, path: Option<PathBuf>, found: impl Into<String>) {
        self.places.push(Place {
            rule,
            path,
            found: found.into(),
        });
    }

    /// The last place looked at is the one used.
    fn found(self, source: Source) -> Located {
        Located {
            kind: self.kind,
            used: Some(self.places.len() - 1),
            places: self.places,
            source: Ok(source),
        }
    }

    fn not_found(self, setting: Option<&'static str>, message: String) -> Located {
        Located {
            kind: self.kind,
            used: None,
            places: self.places,
            source: Err(NotFound { setting, message }),
        }
    }

    /// Rule 1: the folder the experiment file names, or an error naming `data.dir`.
    fn named(mut self, dir: &Path, request: &Request) -> Located {
        let found = find_folder(dir, &request.cwd, &request.base);
        self.place(
            "data.dir in the experiment file (the current folder, then beside the experiment \
             file and its parents)"
                .to_string(),
            Some(found.clone().unwrap_or_else(|| dir.to_path_buf())),
            if found.is_some() {
                "found"
            } else {
                "no such folder"
            },
        );
        if let Some(dir) = found {
            return self.found(Source::Folder(dir));
        }
        let fashion = if self.kind == DatasetKind::FashionMnist {
            " (Fashion-MNIST: apt-get install dataset-fashion-mnist, or set data.dir)"
        } else {
            ""
        };
        let message = format!(
            "the data folder '{}' does not exist (looked in the current folder and beside the \
             experiment file); it must hold the four IDX files, as data/mnist in the repository \
             does{fashion}",
            dir.display()
        );
        self.not_found(Some("data.dir"), message)
    }

    /// Rule 2: `$RUNNER_DATA_DIR/NAME`, or an error naming the variable.
    fn variable(mut self, root: &Path) -> Located {
        let name = self.kind.name();
        let dir = root.join(name);
        let (holds, found) = look_at(&dir);
        self.place(
            format!("${DATA_DIR_VARIABLE}/{name}"),
            Some(dir.clone()),
            found.clone(),
        );
        if holds {
            return self.found(Source::Folder(dir));
        }
        let fetch = if self.kind == DatasetKind::Mnist {
            " (`runner data fetch` downloads MNIST there)"
        } else {
            ""
        };
        let message = format!(
            "{DATA_DIR_VARIABLE} is set to '{}', but '{}' does not hold the {name} data set: \
             {found}{fetch}; or unset {DATA_DIR_VARIABLE}",
            root.display(),
            dir.display()
        );
        self.not_found(Some(DATA_DIR_VARIABLE), message)
    }

    /// Rule 3: the data set's default folder, when it exists (`Err`: look further).
    fn default_folder(mut self, request: &Request) -> Result<Located, Looked> {
        let Some(default) = self.kind.default_dir().map(Path::new) else {
            return Err(self);
        };
        let found = find_folder(default, &request.cwd, &request.base);
        let rule = if default.is_absolute() {
            "the data set's default folder".to_string()
        } else {
            format!(
                "{} (the current folder, then beside the experiment file and its parents)",
                default.display()
            )
        };
        let path = found.clone().unwrap_or_else(|| default.to_path_buf());
        self.place(
            rule,
            Some(path),
            if found.is_some() {
                "found"
            } else {
                "no such folder"
            },
        );
        match found {
            Some(dir) => Ok(self.found(Source::Folder(dir))),
            None => Err(self),
        }
    }

    /// Rule 4: the platform's data folder, when it holds the four files (`Err`: look further).
    fn platform(mut self, dir: Option<&Path>) -> Result<Located, Looked> {
        let (holds, found) = match dir {
            Some(dir) => look_at(dir),
            None => (false, "this platform has none".to_string()),
        };
        self.place(
            "the platform's data folder".to_string(),
            dir.map(Path::to_path_buf),
            found,
        );
        match dir.filter(|_| holds) {
            Some(dir) => Ok(self.found(Source::Folder(dir.to_path_buf()))),
            None => Err(self),
        }
    }

    /// Nothing found: what to do.
    fn nothing(self, platform: Option<&Path>) -> Located {
        let message = match (self.kind, platform) {
            (DatasetKind::Mnist, Some(dir)) => format!(
                "no MNIST found (`runner data` shows where it looked); run `runner data fetch` \
                 to download it to '{}', or set data.dir in the experiment file",
                dir.display()
            ),
            (DatasetKind::FashionMnist, _) => "no Fashion-MNIST found: apt-get install \
                                               dataset-fashion-mnist, or set data.dir"
                .to_string(),
            (kind, _) => format!(
                "no {} data set found: set data.dir in the experiment file",
                kind.name()
            ),
        };
        self.not_found(None, message)
    }
}

impl Located {
    /// The source used, in a few words: `mnist from data/mnist`, `mnist built into runner`, or
    /// `none found`.
    pub fn used(&self) -> String {
        match &self.source {
            Ok(Source::Folder(dir)) => format!("{} from {}", self.kind.name(), dir.display()),
            Ok(Source::BuiltIn) => format!("{} built into runner", self.kind.name()),
            Err(_) => format!("no {} found", self.kind.name()),
        }
    }

    /// The report `runner data` prints: every place looked at, the one used, and why.
    pub fn describe(&self) -> String {
        let mut out = format!("data set: {}\n", self.kind.name());
        for (i, place) in self.places.iter().enumerate() {
            let mark = if Some(i) == self.used { "->" } else { "  " };
            let _ = write!(out, "{mark} {}. {}", i + 1, place.rule);
            if let Some(path) = &place.path {
                let _ = write!(out, ": {}", path.display());
            }
            let _ = writeln!(out, " - {}", place.found);
        }
        match &self.source {
            Ok(Source::Folder(dir)) => {
                let _ = writeln!(out, "uses {}", dir.display());
            }
            Ok(Source::BuiltIn) => {
                let _ = writeln!(out, "uses the copy built into runner");
            }
            Err(e) => {
                let _ = writeln!(out, "nothing to use: {}", e.message);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill(dir: &Path) {
        std::fs::create_dir_all(dir).unwrap();
        for name in FILE_NAMES {
            std::fs::write(dir.join(format!("{name}.gz")), b"x").unwrap();
        }
    }

    fn request(base: &Path) -> Request {
        Request {
            kind: DatasetKind::Mnist,
            named_dir: None,
            cwd: base.to_path_buf(),
            base: base.to_path_buf(),
            data_dir_variable: None,
            platform_dir: None,
            built_in: false,
        }
    }

    #[test]
    fn the_places_are_tried_in_the_documented_order() {
        let t = tempfile::tempdir().unwrap();
        let project = t.path().join("project");
        let experiments = project.join("experiments");
        std::fs::create_dir_all(&experiments).unwrap();
        let platform = t.path().join("platform");
        let variable = t.path().join("variable");
        let mut r = request(&experiments);
        r.platform_dir = Some(platform.clone());
        // nothing anywhere, nothing built in: an error that says how to fetch it
        let none = locate(&r);
        assert_eq!(none.used, None);
        let e = none.source.unwrap_err();
        assert!(e.message.contains("runner data fetch"), "{}", e.message);
        assert!(e
            .message
            .contains(&platform.join("mnist").display().to_string()));
        // built in: used last
        r.built_in = true;
        assert_eq!(locate(&r).source, Ok(Source::BuiltIn));
        // the platform's folder before the built-in copy, once it holds the files
        std::fs::create_dir_all(platform.join("mnist")).unwrap();
        assert_eq!(locate(&r).source, Ok(Source::BuiltIn));
        fill(&platform.join("mnist"));
        assert_eq!(
            locate(&r).source,
            Ok(Source::Folder(platform.join("mnist")))
        );
        // data/mnist above the experiment file before that
        fill(&project.join("data/mnist"));
        let found = locate(&r);
        let expected = std::fs::canonicalize(&project).unwrap().join("data/mnist");
        assert_eq!(found.source, Ok(Source::Folder(expected)));
        assert_eq!(found.used, Some(1));
        // the variable before everything, and an error when its folder lacks a file
        r.data_dir_variable = Some(variable.clone());
        let e = locate(&r).source.unwrap_err();
        assert_eq!(e.setting, Some(DATA_DIR_VARIABLE));
        assert!(e.message.contains("no such folder"), "{}", e.message);
        fill(&variable.join("mnist"));
        std::fs::remove_file(variable.join("mnist/t10k-labels-idx1-ubyte.gz")).unwrap();
        let e = locate(&r).source.unwrap_err();
        assert!(
            e.message.contains("no t10k-labels-idx1-ubyte"),
            "{}",
            e.message
        );
        std::fs::write(variable.join("mnist/t10k-labels-idx1-ubyte"), b"x").unwrap();
        assert_eq!(
            locate(&r).source,
            Ok(Source::Folder(variable.join("mnist")))
        );
        // a folder the file names is the only place looked at
        r.named_dir = Some(PathBuf::from("elsewhere"));
        let named = locate(&r);
        assert_eq!(named.places.len(), 1);
        assert_eq!(named.source.unwrap_err().setting, Some("data.dir"));
        std::fs::create_dir_all(project.join("elsewhere")).unwrap();
        let named = locate(&r);
        let expected = std::fs::canonicalize(&project).unwrap().join("elsewhere");
        assert_eq!(named.source, Ok(Source::Folder(expected)));
    }

    #[test]
    fn the_report_marks_the_place_used_and_says_why_not_the_others() {
        let t = tempfile::tempdir().unwrap();
        let mut r = request(t.path());
        r.platform_dir = Some(t.path().join("platform"));
        r.built_in = true;
        let text = locate(&r).describe();
        assert!(
            text.contains("   1. $RUNNER_DATA_DIR/mnist - not set"),
            "{text}"
        );
        assert!(text.contains("no such folder"), "{text}");
        assert!(text.contains("-> 4. built into runner"), "{text}");
        assert!(
            text.ends_with("uses the copy built into runner\n"),
            "{text}"
        );
        // Fashion-MNIST is never taken from the built-in MNIST
        r.kind = DatasetKind::FashionMnist;
        let fashion = locate(&r);
        if fashion.used.is_none() {
            assert!(fashion.describe().contains("dataset-fashion-mnist"));
        }
        assert!(!fashion.places.iter().any(|p| p.rule.contains("built")));
    }
}
