//! RFC 2544 §26.1 throughput: the highest offered rate at which the device
//! forwards every frame, found by a binary search over trials.
//!
//! The search is a pure function of a trial closure (rate in, loss out), so
//! it is tested with fake devices. It keeps two bounds: `lower`, the
//! highest rate that passed (0 before any pass), and `upper`, the lowest
//! rate that failed (the ceiling before any fail). The first trial runs at
//! the ceiling; if it passes, that is the answer (the device kept up with
//! everything offered). Otherwise each trial halves the interval, until
//! `upper - lower <= resolution * ceiling`, the interval drops below
//! `min_rate`, or `max_trials` ran. The answer is `lower`: a rate that was
//! actually measured to pass, never an interpolation.

use serde::Serialize;

/// What the search is asked to do.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SearchParams {
    /// The ceiling: the highest rate to try (packets/s).
    pub max_rate: f64,
    /// Below this rate the search gives up (reports what passed, maybe 0).
    pub min_rate: f64,
    /// Stop when the interval is at most this fraction of `max_rate`.
    pub resolution: f64,
    /// A trial passes when its loss ratio (lost / sent) is at most this
    /// (0: RFC 2544's zero loss).
    pub loss_threshold: f64,
    /// Trials at most (the ceiling trial included).
    pub max_trials: usize,
}

impl SearchParams {
    /// Trials a search needs at most to reach `resolution` (the ceiling
    /// trial plus the halvings), capped by `max_trials`.
    pub fn trial_bound(&self) -> usize {
        let halvings = if self.resolution > 0.0 && self.resolution < 1.0 {
            (1.0 / self.resolution).log2().ceil() as usize
        } else {
            1
        };
        (1 + halvings).min(self.max_trials)
    }
}

/// One trial as the search saw it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Step {
    /// Rate tried, packets/s.
    pub rate_pps: f64,
    /// Loss ratio measured (lost / sent).
    pub loss_ratio: f64,
    /// Whether it passed.
    pub pass: bool,
    /// Bounds after this trial.
    pub lower_pps: f64,
    /// See `lower_pps`.
    pub upper_pps: f64,
}

/// How the search ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stop {
    /// The ceiling passed.
    CeilingPassed,
    /// The interval reached the resolution.
    Resolution,
    /// The interval fell below `min_rate`.
    MinRate,
    /// `max_trials` ran.
    MaxTrials,
    /// The trial closure gave up (interrupt, error).
    Aborted,
}

/// The search's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    /// Highest passing rate (0: none passed).
    pub throughput_pps: f64,
    /// Final bounds.
    pub lower_pps: f64,
    /// See `lower_pps`.
    pub upper_pps: f64,
    /// Why it stopped.
    pub stop: Stop,
    /// Every trial, in order.
    pub steps: Vec<Step>,
}

/// Runs the search. `trial(rate)` offers `rate` packets/s for one trial
/// and returns its loss ratio, or `None` to abort.
pub fn search(p: &SearchParams, mut trial: impl FnMut(f64) -> Option<f64>) -> Outcome {
    let ceiling = p.max_rate.max(0.0);
    let (mut lower, mut upper) = (0.0f64, ceiling);
    let mut steps = Vec::new();
    let mut rate = ceiling;
    let stop = loop {
        if steps.len() >= p.max_trials {
            break Stop::MaxTrials;
        }
        if rate <= 0.0 || rate < p.min_rate {
            break Stop::MinRate;
        }
        let Some(loss) = trial(rate) else {
            break Stop::Aborted;
        };
        // NaN (nothing sent) fails.
        let pass = loss <= p.loss_threshold;
        if pass {
            lower = lower.max(rate);
        } else {
            upper = upper.min(rate);
        }
        // A noisy device can pass above a failure: keep the bounds ordered.
        if lower > upper {
            upper = lower;
        }
        steps.push(Step {
            rate_pps: rate,
            loss_ratio: loss,
            pass,
            lower_pps: lower,
            upper_pps: upper,
        });
        if pass && rate >= ceiling {
            break Stop::CeilingPassed;
        }
        if upper - lower <= p.resolution * ceiling {
            break Stop::Resolution;
        }
        rate = (lower + upper) / 2.0;
    };
    Outcome {
        throughput_pps: lower,
        lower_pps: lower,
        upper_pps: upper,
        stop,
        steps,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(max: f64) -> SearchParams {
        SearchParams {
            max_rate: max,
            min_rate: 1.0,
            resolution: 0.01,
            loss_threshold: 0.0,
            max_trials: 30,
        }
    }

    /// A device that forwards up to `cap` pps and drops the excess.
    fn device(cap: f64) -> impl FnMut(f64) -> Option<f64> {
        move |r| Some(if r <= cap { 0.0 } else { (r - cap) / r })
    }

    #[test]
    fn converges_below_capacity_within_resolution() {
        for cap in [1.0e3, 123_456.0, 499_999.0, 750_000.0, 999_000.0] {
            let p = params(1.0e6);
            let o = search(&p, device(cap));
            assert_eq!(o.stop, Stop::Resolution, "cap {cap}");
            assert!(o.throughput_pps <= cap, "cap {cap}: {o:?}");
            assert!(cap - o.throughput_pps <= p.resolution * p.max_rate, "{o:?}");
            assert!(o.steps.len() <= p.trial_bound(), "{} trials", o.steps.len());
            // The answer is a rate measured to pass (or 0 when the capacity
            // is below the resolution).
            let measured = o
                .steps
                .iter()
                .any(|s| s.pass && s.rate_pps == o.throughput_pps);
            assert!(o.throughput_pps == 0.0 || measured);
            assert_eq!(o.throughput_pps == 0.0, cap < p.resolution * p.max_rate);
        }
    }

    #[test]
    fn bounds_are_monotone_and_bracket_the_answer() {
        let o = search(&params(1.0e6), device(333_333.0));
        let mut prev = (0.0, f64::INFINITY);
        for s in &o.steps {
            assert!(s.lower_pps >= prev.0 && s.upper_pps <= prev.1, "{o:?}");
            assert!(s.lower_pps <= s.upper_pps);
            assert!(s.lower_pps <= 333_333.0 && s.upper_pps > 333_333.0);
            prev = (s.lower_pps, s.upper_pps);
        }
        // Each trial is the midpoint of the previous bounds.
        for w in o.steps.windows(2) {
            assert_eq!(w[1].rate_pps, (w[0].lower_pps + w[0].upper_pps) / 2.0);
        }
    }

    #[test]
    fn ceiling_pass_takes_one_trial() {
        let o = search(&params(500.0), device(1.0e9));
        assert_eq!(o.stop, Stop::CeilingPassed);
        assert_eq!(o.steps.len(), 1);
        assert_eq!(o.throughput_pps, 500.0);
    }

    #[test]
    fn total_loss_reports_zero() {
        let o = search(&params(1.0e6), |_| Some(1.0));
        assert_eq!(o.throughput_pps, 0.0);
        assert!(matches!(o.stop, Stop::Resolution | Stop::MinRate), "{o:?}");
        assert!(o.steps.iter().all(|s| !s.pass));
        // NaN (nothing sent) fails too.
        let o = search(&params(1.0e6), |_| Some(f64::NAN));
        assert_eq!(o.throughput_pps, 0.0);
    }

    #[test]
    fn loss_threshold_admits_small_loss() {
        // Always 0.5% loss: fails at zero-loss, passes at 1%.
        let lossy = |_r: f64| Some(0.005);
        assert_eq!(search(&params(1.0e5), lossy).throughput_pps, 0.0);
        let p = SearchParams {
            loss_threshold: 0.01,
            ..params(1.0e5)
        };
        assert_eq!(search(&p, lossy).throughput_pps, 1.0e5);
    }

    #[test]
    fn coarser_resolution_takes_fewer_trials() {
        let fine = search(&params(1.0e6), device(400_000.0));
        let coarse = search(
            &SearchParams {
                resolution: 0.1,
                ..params(1.0e6)
            },
            device(400_000.0),
        );
        assert!(coarse.steps.len() < fine.steps.len());
        assert!(400_000.0 - coarse.throughput_pps <= 0.1 * 1.0e6);
        assert_eq!(
            SearchParams {
                resolution: 0.1,
                ..params(1.0e6)
            }
            .trial_bound(),
            5
        );
    }

    #[test]
    fn max_trials_and_abort_bound_the_search() {
        let p = SearchParams {
            max_trials: 3,
            ..params(1.0e6)
        };
        let o = search(&p, device(1.0));
        assert_eq!((o.stop, o.steps.len()), (Stop::MaxTrials, 3));
        let mut n = 0;
        let o = search(&params(1.0e6), |r| {
            n += 1;
            (n < 3).then_some(if r > 10.0 { 1.0 } else { 0.0 })
        });
        assert_eq!((o.stop, o.steps.len()), (Stop::Aborted, 2));
        let o = search(&params(0.0), device(1.0));
        assert_eq!((o.stop, o.steps.len()), (Stop::MinRate, 0));
    }

    #[test]
    fn noisy_device_terminates_with_ordered_bounds() {
        // Passes and fails at random (a fixed xorshift sequence).
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let o = search(&params(1.0e6), |_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            Some(if x.is_multiple_of(2) { 0.0 } else { 0.5 })
        });
        assert!(o.steps.len() <= 30);
        assert!(o.lower_pps <= o.upper_pps);
        assert!(o.steps.iter().all(|s| s.lower_pps <= s.upper_pps));
    }
}
