"The stepwise schedule (emtheory.online): step sizes from their closed form, today's partial_fit reproduced, the Polyak-Ruppert average's variance against the chapter's closed form, clear errors."
import numpy as np
import pytest
from sklearn.datasets import load_iris
from emtheory.core import Stats, LocalStats, as_generator
from emtheory.em import GaussianMixtureEM, GaussianParams
from emtheory.map_em import GaussianMixtureMAP
from emtheory.online import Stepwise, step_size, check_schedule

def scalar(v, n=1.):
    "A batch's statistics whose T holds v (replications side by side), of total weight n."
    return Stats(T=np.asarray(v, float), log_norm=0., entropy=0., n=n)

# ---- step sizes: exact values of (t + t0)^-kappa

@pytest.mark.parametrize("t, t0, kappa, want", [(1, 0., 1., 1.), (2, 2., 1., 1 / 4), (14, 2., 0.75, 1 / 8),
                                                (7, 1., 2 / 3, 1 / 4), (0, 4., 0.5, 1 / 2), (23, 2., 0.6, 25 ** -0.6)])
def test_step_size_closed_form(t, t0, kappa, want):
    "rho_t = (t + t0)^-kappa at points where the power is exact (16^-3/4 = 1/8, 8^-2/3 = 1/4, ...)."
    assert step_size(t, t0, kappa) == pytest.approx(want, rel=1e-15)

def test_the_schedule_steps_one_then_the_closed_form():
    "The first batch replaces the statistics (rho = 1); batch t >= 2 steps with rho = (t - 1 + t0)^-kappa."
    sw = Stepwise(kappa=1., t0=2., average=False)
    rhos = []
    for v in (3., 5., 9., 1.):
        sw.update(scalar([v])); rhos.append(sw.rho)
    assert rhos == pytest.approx([1., 1 / 3, 1 / 4, 1 / 5], rel=1e-15)
    # kappa = 1: s_t = s_(t-1) + (v_t - s_(t-1)) / (t + 1); by hand: 3, 3 + 2/3 = 11/3, 11/3 + (9 - 11/3)/4 = 5, 5 - 4/5
    assert sw.s.T[0] == pytest.approx(21 / 5, rel=1e-15)
    assert sw.t == 4 and sw.n_seen == 4.

def test_update_scales_by_weight_seen_and_returns_running_statistics():
    "The batch enters per unit weight; update returns s * n_seen; the first batch's statistics are its mean."
    sw = Stepwise(kappa=0.6, t0=2., average=False)
    out = sw.update(scalar([10., 20.], n=5.))
    np.testing.assert_array_equal(sw.s.T, [2., 4.])
    np.testing.assert_array_equal(out.T, [10., 20.])
    out = sw.update(scalar([3., 3.], n=1.))
    rho = 3 ** -0.6
    np.testing.assert_allclose(sw.s.T, [2 * (1 - rho) + 3 * rho, 4 * (1 - rho) + 3 * rho], rtol=1e-15)
    np.testing.assert_allclose(out.T, sw.s.T * 6., rtol=1e-15)

def test_average_is_the_mean_of_running_statistics_after_burn_in():
    "With average=True, estimate is n_seen times the arithmetic mean of s_(b+1), ..., s_t; before that, the running statistics."
    rng = np.random.default_rng(0)
    sw = Stepwise(kappa=0.7, t0=1., average=True, burn_in=3)
    assert sw.estimate is None
    history = []
    for t in range(1, 11):
        sw.update(scalar(rng.normal(size=2), n=rng.uniform(1, 3)))
        history.append(sw.s.T.copy())
        want = np.mean(history[3:], axis=0) if t > 3 else history[-1]
        np.testing.assert_allclose(sw.estimate.T, want * sw.n_seen, rtol=1e-13)

def test_resume_continues_with_the_next_step():
    "resume(s, n, t): the next update steps with rho = step_size(t, t0, kappa) from s; the average restarts at s."
    sw = Stepwise(kappa=0.8, t0=2., average=True, burn_in=0).resume(scalar([1., 2.]), 50., t=7)
    sw.update(scalar([30., 30.], n=10.))
    rho = 9 ** -0.8
    np.testing.assert_allclose(sw.s.T, np.array([1., 2.]) * (1 - rho) + 3. * rho, rtol=1e-15)
    np.testing.assert_allclose(sw.estimate.T, (np.array([1., 2.]) + sw.s.T) / 2 * 60., rtol=1e-15)
    assert sw.t == 8 and sw.n_seen == 60.

def test_documented_defaults():
    """The defaults the docs state: rho_t = (t + 2)^-0.6; Stepwise() averages after 100 steps: its estimate is the
    running statistics through step 100, then the mean of s_101, s_102, ..."""
    assert step_size(1) == pytest.approx(3 ** -0.6, rel=1e-15) and step_size(7) == pytest.approx(9 ** -0.6, rel=1e-15)
    sw = Stepwise()
    rng = np.random.default_rng(5)
    seen = []
    for t in range(1, 104):
        sw.update(scalar(rng.normal(size=2)))
        seen.append(sw.s.T.copy())
        if t == 2: assert sw.rho == pytest.approx(3 ** -0.6, rel=1e-15)
        want = seen[-1] if t <= 100 else np.mean(seen[100:], axis=0)
        np.testing.assert_allclose(sw.estimate.T, want * t, rtol=1e-13, err_msg=str(t))
    assert sw.s_bar is not None

def test_resume_defaults_and_the_average_at_the_burn_in():
    """resume(s, n) without t steps next with rho = t0^-kappa (t = 0); resumed at t = burn_in the average restarts at s;
    resumed before it, the average starts after burn_in steps as in a fresh schedule (the mean of s_(b+1), s_(b+2))."""
    sw = Stepwise(kappa=1., t0=4., average=False).resume(scalar([2.]), 1.)
    sw.update(scalar([6.]))
    assert sw.rho == 0.25 and sw.s.T[0] == pytest.approx(3., rel=1e-15)
    sw = Stepwise(kappa=1., t0=1., average=True, burn_in=5).resume(scalar([2.]), 1., t=5)
    sw.update(scalar([8.]))   # rho = 1/6: s = 2 + 6/6 = 3; the average of 2 (the resumed s) and 3
    np.testing.assert_allclose(sw.estimate.T, [2.5 * 2], rtol=1e-15)
    sw = Stepwise(kappa=1., t0=1., average=True, burn_in=2).resume(scalar([0.]), 1., t=1)
    running = []
    for v in (3., 6., 9.):
        sw.update(scalar([v])); running.append(sw.s.T[0])
    np.testing.assert_allclose(sw.estimate.T, [np.mean(running[1:]) * 4], rtol=1e-15)   # s_3 and s_4: steps after burn_in = 2

def test_local_statistics_are_dropped():
    "Sums about moving reference points do not average: `local` is dropped, in the Monte Carlo draws' statistics too."
    loc = LocalStats(index=np.array([0]), ref=np.zeros((1, 2)), T=np.ones((1, 3)))
    inner = Stats(T=np.ones((2, 3)), log_norm=0., entropy=0., n=2., local=loc)
    st = Stats(T=np.ones((2, 3)), log_norm=-1., entropy=0.5, n=2., local=loc, sampled=inner)
    sw = Stepwise()
    out = sw.update(st)
    assert out.local is None and out.sampled.local is None
    sw.update(st)
    assert sw.s.local is None and sw.s.sampled.local is None
    np.testing.assert_allclose(sw.s.sampled.T, 0.5, rtol=1e-15)

# ---- today's partial_fit, reproduced

def _by_hand(est, batches, weights, sw):
    "Stepwise plus the model's E- and M-steps, started as partial_fit starts (the first batch initialises the model)."
    A0, w0 = batches[0], weights[0]
    model = est._make_model(A0, w0)
    state = est._init_state(model, A0, w0, as_generator(est.random_state))
    for A, w in zip(batches, weights):
        state = model.m_step(sw.update(model.e_step(state, A, model.prepare(A, 0), w)), state)
    return model, state

@pytest.mark.parametrize("cls", [GaussianMixtureEM, GaussianMixtureMAP])
@pytest.mark.parametrize("weighted", [False, True])
def test_stepwise_reproduces_partial_fit(cls, weighted):
    "Stepwise(average=False) fed the batches that partial_fit reads gives its parameters to 1e-12 (MAP: the prior weighs against n_seen)."
    X = load_iris().data
    rng = np.random.default_rng(3)
    order = rng.permutation(len(X))
    batches = [X[order[i:i + 25]] for i in range(0, len(X), 25)] * 3
    weights = [rng.uniform(0.5, 2., len(A)) if weighted else None for A in batches]
    ref = cls(3, random_state=0, kappa=0.75, t0=1.)
    for A, w in zip(batches, weights): ref.partial_fit(A, sample_weight=w)
    sw = Stepwise(kappa=0.75, t0=1., average=False)
    model, state = _by_hand(cls(3, random_state=0), batches, weights, sw)
    assert sw.t == ref.n_iter_ == len(batches)
    np.testing.assert_allclose(state.weights, ref.weights_, rtol=1e-12, atol=0)
    np.testing.assert_allclose(state.means + model.center, ref.means_, rtol=1e-12, atol=0)
    np.testing.assert_allclose(state.covariances, ref.covariances_, rtol=1e-12, atol=0)

# ---- the averaged schedule on the scalar linear recursion, against the closed form (2) of the chapter

def closed_form_variances(T, kappa, t0, a, burn_in):
    "Var e_T = sum_j c_Tj^2 and Var mean(e_(b+1..T)) = sum_j (rho_j G_j)^2 / (T - b)^2, noise variance 1 (the chapter's (2))."
    rho = np.r_[1., (np.arange(1, T) + t0) ** -kappa]
    c = np.array([rho[j] * np.prod(1 - a * rho[j + 1:]) for j in range(T)])
    G = np.array([sum(np.prod(1 - a * rho[j + 1:k + 1]) for k in range(max(j, burn_in), T)) for j in range(T)])
    return np.sum(c**2), np.sum((rho * G)**2) / (T - burn_in)**2

@pytest.mark.parametrize("kappa, a, burn_in", [(0.6, 0.3, 50), (0.6, 1., 0), (0.75, 0.8, 20), (0.9, 0.8, 0)])
def test_average_variance_matches_closed_form(kappa, a, burn_in):
    "R replications of s_t = s_(t-1) + rho_t (a (mu - s_(t-1)) + noise): sample variances within five standard errors of (2)."
    R, T, t0, mu = 4000, 300, 2., 1.5
    rng = np.random.default_rng(11)
    sw = Stepwise(kappa=kappa, t0=t0, average=True, burn_in=burn_in)
    s = np.full(R, mu)
    for _ in range(T):   # each batch's statistic is F(s) + noise, F(s) = (1 - a) s + a mu: an EM map with rate 1 - a
        s = sw.update(scalar((1 - a) * s + a * mu + rng.standard_normal(R))).T / sw.n_seen
    avg = sw.estimate.T / sw.n_seen
    v_last, v_avg = closed_form_variances(T, kappa, t0, a, burn_in)
    tol = 5 * np.sqrt(2 / (R - 1))   # relative standard error of a Gaussian sample variance, five times
    assert abs(s.var() / v_last - 1) < tol
    assert abs(avg.var() / v_avg - 1) < tol
    assert abs(avg.mean() - mu) < 5 * np.sqrt(v_avg / R)
    assert abs(v_avg / v_last - 1) > 2 * tol   # the two variances differ by more than the tolerance: an average swapped for the last iterate fails

# ---- bad input: one line naming the problem

@pytest.mark.parametrize("kwargs, word", [(dict(kappa=0.5), "kappa"), (dict(kappa=1.01), "kappa"), (dict(kappa=True), "kappa"),
                                          (dict(kappa="0.6"), "kappa"), (dict(t0=-1.), "t0"), (dict(t0=np.inf), "t0"),
                                          (dict(average="yes"), "average"), (dict(burn_in=-1), "burn_in"),
                                          (dict(burn_in=1.5), "burn_in")])
def test_bad_schedule_is_refused_in_one_line(kwargs, word):
    "Each bad parameter: a ValueError of one line naming it."
    with pytest.raises(ValueError, match=word) as e: Stepwise(**kwargs)
    assert "\n" not in str(e.value)

def test_check_schedule_and_empty_batch():
    "check_schedule accepts the Robbins-Monro range; a batch of zero weight is refused in one line."
    check_schedule(1., 0.); check_schedule(0.51, 0.)
    with pytest.raises(ValueError, match="kappa"): check_schedule(0.5, 2.)
    with pytest.raises(ValueError, match="weight") as e: Stepwise().update(scalar([1.], n=0.))
    assert "\n" not in str(e.value)
