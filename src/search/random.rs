//! Random search: instead of the whole grid, `trials` points drawn from it. The draws are decided
//! here; reading the ranges as written is the experiment file's business (`crate::config`).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::grid::settings::SETTINGS;
use crate::grid::{Grid, Partial, Value};

/// Replaces every searched setting with more than one value by `trials` random draws (one zip
/// axis): log ranges log-uniformly, lin ranges uniformly between their ends (`ranges`: for the
/// settings written as a continuous range, `(index, (log, from, to))`), other lists by picking a
/// value. The seeds stay an axis of their own, so
/// every trial is trained with every seed. The draws depend on the search's seed alone, and the
/// settings are drawn in table order.
pub fn random_search(
    mut grid: Grid,
    ranges: &[(usize, (bool, f64, f64))],
    trials: usize,
    seed: u64,
) -> Grid {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let round = |x: f64| format!("{x:.5e}").parse::<f64>().unwrap_or(x);
    let searched: Vec<usize> = (0..SETTINGS.len())
        .filter(|&i| SETTINGS[i].searched)
        .collect();
    let mut points = Vec::with_capacity(trials);
    for _ in 0..trials {
        let mut p = Partial::default();
        for &i in &searched {
            let continuous = ranges.iter().find(|(j, _)| *j == i).map(|(_, r)| *r);
            if let Some((log, a, b)) = continuous {
                let u: f64 = rng.random();
                let x = round(if log {
                    (a.ln() + u * (b.ln() - a.ln())).exp()
                } else {
                    a + u * (b - a)
                });
                // a drawn value stays inside the setting's allowed values (momentum < 1)
                let x = match SETTINGS[i].kind {
                    crate::grid::settings::Kind::Float { allowed, .. } if !allowed(x) => {
                        x.min(0.999)
                    }
                    _ => x,
                };
                p.set(i, Value::Float(x));
            } else if grid.axis(i).len() > 1 {
                let values = grid.axis(i);
                p.set(i, values[rng.random_range(0..values.len())].clone());
            }
        }
        points.push(p);
    }
    // the drawn settings vary only through the trials
    for &i in &searched {
        if points.iter().any(|p| p.get(i).is_some()) {
            grid.keep_first(i);
        }
    }
    grid.zips = vec![points];
    grid.dedup();
    grid
}
