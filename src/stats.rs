//! The statistics the summary's comparisons and the searches' decisions share: the mean and
//! sample variance of a few seeds' values, and Student's t quantile for their 95% intervals.

/// Mean and sample variance (n − 1); variance 0 for fewer than two values.
pub fn mean_var(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = if xs.len() < 2 {
        0.0
    } else {
        xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0)
    };
    (mean, var)
}

/// The 0.975 quantile of Student's t with `df` degrees of freedom (df >= 1).
pub fn t_quantile(df: usize) -> f64 {
    // df 1..=30 from the tables; beyond, the expansion below is within 1e-4
    const TABLE: [f64; 30] = [
        12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281, 2.2010,
        2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860, 2.0796, 2.0739,
        2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423,
    ];
    match df {
        0 => f64::INFINITY,
        1..=30 => TABLE[df - 1],
        _ => t_quantile_real(df as f64),
    }
}

/// [`t_quantile`] for real degrees of freedom (Welch's): the table between whole values
/// (rounded down: the wider interval), and for large df the Cornish-Fisher expansion around the
/// normal quantile 1.96.
pub fn t_quantile_real(df: f64) -> f64 {
    if df < 1.0 {
        return t_quantile(1);
    }
    if df <= 30.0 {
        return t_quantile(df.floor() as usize);
    }
    let z = 1.959_964;
    let z3 = z * z * z;
    let z5 = z3 * z * z;
    z + (z3 + z) / (4.0 * df) + (5.0 * z5 + 16.0 * z3 + 3.0 * z) / (96.0 * df * df)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_t_quantiles_meet_the_normal_one() {
        assert_eq!(t_quantile(30), t_quantile_real(30.0));
        assert!((t_quantile(30) - t_quantile_real(30.5)).abs() < 2e-3);
        assert!((t_quantile_real(31.0) - 2.0395).abs() < 2e-3);
        assert!((t_quantile_real(1e9) - 1.96).abs() < 1e-3);
        assert!(t_quantile_real(2.7) == t_quantile(2));
    }

    #[test]
    fn mean_and_sample_variance() {
        assert_eq!(mean_var(&[1.0, 2.0, 3.0]), (2.0, 1.0));
        assert_eq!(mean_var(&[4.0]), (4.0, 0.0));
    }
}
