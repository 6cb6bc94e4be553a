//! The statistics of the canary analysis: exact tests on counts, so a verdict on a few dozen
//! invocations means what it says (a normal approximation is wrong exactly where a canary lives:
//! few calls, fewer errors).
//!
//! - Two versions' error counts are compared with the one-sided **Fisher exact test**: given the
//!   errors the two versions made together, how likely is it that the new version made at least
//!   as many of them as it did, if both fail at the same rate? It is exact for any counts, needs
//!   no "expected count ≥ 5" rule of thumb, and is one-sided because only *worse* matters.
//!
//! It sums point probabilities outward from the observed count, each term from the one before
//! (no factorial overflows), so a tail costs at most as many steps as there are errors.

/// ln Γ(x) for x > 0 (Lanczos' approximation, g = 7, nine terms: ~15 significant digits).
fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x)Γ(1 − x) = π / sin(πx).
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut sum = C[0];
    for (i, c) in C.iter().enumerate().skip(1) {
        sum += c / (x + i as f64);
    }
    let t = x + G + 0.5;
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + sum.ln()
}

/// ln C(n, k).
fn ln_choose(n: u64, k: u64) -> f64 {
    ln_gamma(n as f64 + 1.0) - ln_gamma(k as f64 + 1.0) - ln_gamma((n - k) as f64 + 1.0)
}

/// Sums point probabilities from the term at `first` (whose natural log is `ln_first`) over
/// `steps` more terms, each the one before times `ratio(k)` for the k it stepped from. The terms
/// must only fall (a tail summed away from the mode): it stops once they no longer change the sum.
fn tail(ln_first: f64, first: u64, steps: u64, ratio: impl Fn(u64) -> f64, up: bool) -> f64 {
    let mut term = ln_first.exp();
    let mut sum = term;
    let mut k = first;
    for _ in 0..steps {
        term *= ratio(k);
        sum += term;
        k = if up { k + 1 } else { k - 1 };
        if term <= sum * 1e-17 {
            break;
        }
    }
    sum
}

/// P(X ≥ x) of a distribution on `lo..=hi` with mode `mode`, from its log point probability and
/// the ratios of neighbouring terms: summed from x up when x is past the mode, else as one less
/// the sum from x − 1 down, so each sum starts at its largest term (no underflow to 0 far from
/// the mode, where the other tail is all there is).
fn at_least(
    x: u64,
    (lo, hi, mode): (u64, u64, u64),
    ln_pmf: impl Fn(u64) -> f64,
    up: impl Fn(u64) -> f64,
    down: impl Fn(u64) -> f64,
) -> f64 {
    if x <= lo {
        return 1.0;
    }
    if x > hi {
        return 0.0;
    }
    let p = if x > mode {
        tail(ln_pmf(x), x, hi - x, up, true)
    } else {
        1.0 - tail(ln_pmf(x - 1), x - 1, x - 1 - lo, down, false)
    };
    p.clamp(0.0, 1.0)
}

/// The one-sided Fisher exact test: the probability, if both versions fail at the same rate,
/// that the first makes at least `errors_a` of the errors both made, `errors_a` of `calls_a`
/// against `errors_b` of `calls_b`. Small means the first is worse by more than chance explains.
pub fn fisher_greater(errors_a: u64, calls_a: u64, errors_b: u64, calls_b: u64) -> f64 {
    let (a, n1) = (errors_a.min(calls_a), calls_a);
    let c = errors_b.min(calls_b);
    let (n, k) = (n1 + calls_b, a + c);
    if n1 == 0 || k == 0 {
        return 1.0;
    }
    // X, the first's errors, is hypergeometric: k errors among n calls, n1 of them drawn.
    let lo = n1.saturating_sub(n - k);
    let hi = k.min(n1);
    let mode = (((n1 + 1) as f64 * (k + 1) as f64) / (n + 2) as f64).floor() as u64;
    let ln_pmf = |x: u64| ln_choose(k, x) + ln_choose(n - k, n1 - x) - ln_choose(n, n1);
    // pmf(x + 1) / pmf(x), and pmf(x − 1) / pmf(x).
    let up = |x: u64| {
        ((k - x) as f64 * (n1 - x) as f64) / ((x + 1) as f64 * (n - k + x + 1 - n1) as f64)
    };
    let down =
        |x: u64| (x as f64 * (n - k + x - n1) as f64) / ((k - x + 1) as f64 * (n1 - x + 1) as f64);
    at_least(a, (lo, hi, mode.clamp(lo, hi)), ln_pmf, up, down)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Equal to 7 digits: a tail of a million calls sums terms of ln C(n, k) near 10⁷, where
    /// doubles keep about 9 digits of the difference.
    fn close(got: f64, want: f64) -> bool {
        if want == 0.0 {
            return got.abs() < 1e-300;
        }
        ((got - want) / want).abs() < 1e-7
    }

    /// Known values: the same tests computed by SciPy 1.x (`fisher_exact(..., alternative=
    /// 'greater')`), an implementation independent of this one.
    #[test]
    fn the_tests_agree_with_known_values() {
        let fisher = [
            // (errors, calls) of the new version, of the stable one, p
            (9, 212, 2, 731, 4.568_233_050_454_176e-5),
            (1, 20, 0, 200, 0.090_909_090_909_090_91),
            (6, 30, 0, 270, 6.167_022_334_743_274e-7),
            (5, 50, 5, 50, 0.629_666_773_112_767_6),
            (10, 100, 2, 900, 3.649_941_357_585_649_6e-9),
            (3, 1000, 30, 9000, 0.654_759_529_847_637_3),
            (60, 300, 27, 2700, 7.729_220_328_670_284e-42),
            (0, 40, 3, 360, 1.0),
            (120, 100_000, 900, 900_000, 0.036_119_512_193_216_55),
            (2, 10, 1, 1000, 2.635_404_415_423_844_6e-4),
            (0, 0, 0, 0, 1.0),
            // Far fewer errors than the stable: the upper tail is all but certain.
            (63, 338, 2627, 2632, 1.0),
            (5, 1000, 400, 1000, 1.0),
        ];
        for (a, n1, c, n2, want) in fisher {
            let got = fisher_greater(a, n1, c, n2);
            assert!(
                close(got, want),
                "fisher {a}/{n1} vs {c}/{n2}: {got} != {want}"
            );
        }
    }

    #[test]
    fn big_counts_stay_cheap_and_finite() {
        // A busy function: millions of calls, thousands of errors.
        let p = fisher_greater(5_000, 1_000_000, 40_000, 9_000_000);
        assert!(p.is_finite() && (0.0..=1.0).contains(&p));
    }

    proptest! {
        /// One more error of the new version never makes the test kinder to it; one more error of
        /// the stable one never makes it harsher (to the sums' precision, ~1e-7 relative).
        #[test]
        fn more_errors_never_make_the_test_kinder(
            n1 in 1u64..400, n2 in 1u64..4000, a in 0u64..400, c in 0u64..4000,
        ) {
            let (a, c) = (a.min(n1 - 1), c.min(n2 - 1));
            let p = fisher_greater(a, n1, c, n2);
            prop_assert!(fisher_greater(a + 1, n1, c, n2) <= p * (1.0 + 1e-6));
            prop_assert!(fisher_greater(a, n1, c + 1, n2) >= p * (1.0 - 1e-6));
        }
    }
}
