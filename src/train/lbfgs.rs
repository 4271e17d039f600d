//! Limited-memory BFGS for the smooth convex objectives of the classifiers fitted on cached
//! features ([`super::linear_fit`]): the minimiser scikit-learn's logistic regression uses, so that
//! both reach the same optimum.

/// How hard to minimise.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LbfgsSettings {
    /// Correction pairs kept (scipy's default is 10).
    pub memory: usize,
    /// Stop when the largest gradient component is at most this.
    pub gradient_tolerance: f64,
    pub max_iterations: usize,
}

impl Default for LbfgsSettings {
    fn default() -> Self {
        Self { memory: 10, gradient_tolerance: 1e-7, max_iterations: 2000 }
    }
}

/// Where the minimisation stopped.
#[derive(Debug, Clone)]
pub(crate) struct Minimum {
    pub x: Vec<f64>,
    pub iterations: usize,
    pub converged: bool,
}

/// Sufficient decrease of the Armijo condition.
const ARMIJO: f64 = 1e-4;
/// Step halvings tried before the search gives up (the minimum is then reached to rounding).
const MAX_HALVINGS: usize = 40;
/// A relative decrease below this ends the minimisation (scipy's `ftol` as scikit-learn sets it).
const RELATIVE_DECREASE: f64 = 64.0 * f64::EPSILON;

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn max_abs(values: &[f64]) -> f64 {
    values.iter().fold(0.0, |m, v| m.max(v.abs()))
}

/// Minimises `objective`, which returns the value at `x` and writes the gradient into its second
/// argument, from `start`.
pub(crate) fn minimize(
    mut objective: impl FnMut(&[f64], &mut [f64]) -> f64,
    start: Vec<f64>,
    settings: LbfgsSettings,
) -> Minimum {
    let n = start.len();
    let mut x = start;
    let mut gradient = vec![0.0; n];
    let mut value = objective(&x, &mut gradient);
    // Correction pairs (s, y, 1 / y·s), oldest first.
    let mut pairs: Vec<(Vec<f64>, Vec<f64>, f64)> = Vec::with_capacity(settings.memory);
    let mut trial = vec![0.0; n];
    let mut trial_gradient = vec![0.0; n];
    for iteration in 0..settings.max_iterations {
        if max_abs(&gradient) <= settings.gradient_tolerance {
            return Minimum { x, iterations: iteration, converged: true };
        }
        // Two-loop recursion: direction = -H·gradient.
        let mut direction: Vec<f64> = gradient.iter().map(|g| -g).collect();
        let mut alphas = vec![0.0; pairs.len()];
        for (k, (s, y, rho)) in pairs.iter().enumerate().rev() {
            alphas[k] = rho * dot(s, &direction);
            direction.iter_mut().zip(y).for_each(|(d, yi)| *d -= alphas[k] * yi);
        }
        let scale = pairs.last().map_or(1.0 / max_abs(&gradient).max(1.0), |(_, y, rho)| 1.0 / (rho * dot(y, y)));
        direction.iter_mut().for_each(|d| *d *= scale);
        for (k, (s, y, rho)) in pairs.iter().enumerate() {
            let beta = rho * dot(y, &direction);
            direction.iter_mut().zip(s).for_each(|(d, si)| *d += (alphas[k] - beta) * si);
        }
        let mut slope = dot(&gradient, &direction);
        if slope >= 0.0 {
            // Not a descent direction (rounding): restart from steepest descent.
            pairs.clear();
            direction = gradient.iter().map(|g| -g / max_abs(&gradient)).collect();
            slope = dot(&gradient, &direction);
        }
        // Backtracking line search from the quasi-Newton step.
        let mut step = 1.0;
        let mut accepted = None;
        for _ in 0..MAX_HALVINGS {
            trial.iter_mut().zip(&x).zip(&direction).for_each(|((t, xi), d)| *t = xi + step * d);
            let trial_value = objective(&trial, &mut trial_gradient);
            if trial_value <= value + ARMIJO * step * slope {
                accepted = Some(trial_value);
                break;
            }
            step *= 0.5;
        }
        let Some(trial_value) = accepted else {
            return Minimum { x, iterations: iteration, converged: false };
        };
        let stalled = value - trial_value <= RELATIVE_DECREASE * value.abs().max(trial_value.abs()).max(1.0);
        let s: Vec<f64> = trial.iter().zip(&x).map(|(t, xi)| t - xi).collect();
        let y: Vec<f64> = trial_gradient.iter().zip(&gradient).map(|(t, g)| t - g).collect();
        let curvature = dot(&s, &y);
        // Only pairs of positive curvature keep the inverse Hessian estimate positive definite.
        if curvature > 1e-12 * dot(&y, &y).sqrt() * dot(&s, &s).sqrt() {
            if pairs.len() == settings.memory {
                pairs.remove(0);
            }
            pairs.push((s, y, 1.0 / curvature));
        }
        std::mem::swap(&mut x, &mut trial);
        std::mem::swap(&mut gradient, &mut trial_gradient);
        value = trial_value;
        if stalled {
            return Minimum { x, iterations: iteration + 1, converged: true };
        }
    }
    let converged = max_abs(&gradient) <= settings.gradient_tolerance;
    Minimum { x, iterations: settings.max_iterations, converged }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_minimum_of_an_ill_conditioned_quadratic() {
        // f(x) = Σ c_i (x_i - i)², conditioning 1e4.
        let curvatures: Vec<f64> = (0..20).map(|i| 10f64.powf(i as f64 / 19.0 * 4.0)).collect();
        let minimum = minimize(
            |x, gradient| {
                let mut value = 0.0;
                for (i, (&xi, c)) in x.iter().zip(&curvatures).enumerate() {
                    let d = xi - i as f64;
                    value += c * d * d;
                    gradient[i] = 2.0 * c * d;
                }
                value
            },
            vec![0.0; 20],
            LbfgsSettings::default(),
        );
        assert!(minimum.converged, "{} iterations", minimum.iterations);
        for (i, xi) in minimum.x.iter().enumerate() {
            assert!((xi - i as f64).abs() < 1e-6, "x[{i}] = {xi}");
        }
    }

    #[test]
    fn finds_the_minimum_of_rosenbrock() {
        let minimum = minimize(
            |x, gradient| {
                let (a, b) = (x[0], x[1]);
                gradient[0] = -2.0 * (1.0 - a) - 400.0 * a * (b - a * a);
                gradient[1] = 200.0 * (b - a * a);
                (1.0 - a).powi(2) + 100.0 * (b - a * a).powi(2)
            },
            vec![-1.2, 1.0],
            LbfgsSettings::default(),
        );
        assert!(minimum.converged);
        assert!((minimum.x[0] - 1.0).abs() < 1e-5 && (minimum.x[1] - 1.0).abs() < 1e-5, "{:?}", minimum.x);
    }
}
