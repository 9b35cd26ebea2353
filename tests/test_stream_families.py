"""The exponential-family mixtures and the Gamma GEM stream: every source gives the in-memory fit, partial_fit follows
Cappé and Moulines' stepwise average, bad blocks are named, and a component collapsing onto exact zeros is refused."""
import pickle, warnings
import numpy as np
import pytest
import dask.array as da
from scipy import stats as sst
from scipy.optimize import brentq
from scipy.special import logsumexp, digamma
from emtheory.core import ConvergenceWarning, Stats
from emtheory.blocks import fit_blocks, row_keys
from emtheory.expfam import ExpFamilyMixtureEM, ExpFamilyMixtureMAP, ExpFamilyEM, Bernoulli, Exponential, Categorical
from emtheory.gem import GammaMixtureGEM

pytestmark = pytest.mark.filterwarnings("ignore::emtheory.core.ConvergenceWarning")

# ---------------------------------------------------------------- data

def _bernoulli(rng, N=600):
    p = np.array([[.9, .8, .2, .1], [.15, .3, .85, .7]])
    z = rng.integers(0, 2, N)
    return (rng.uniform(size=(N, 4)) < p[z]).astype(float)

def _poisson(rng, N=600):
    lam = np.array([[1., 5., 2.], [6., 1., 3.]])
    return rng.poisson(lam[rng.integers(0, 2, N)]).astype(float)

def _categorical(rng, N=600):
    p = [np.array([[.7, .1, .1, .1], [.1, .1, .2, .6]]), np.array([[.5, .4, .1], [.1, .2, .7]])]
    z = rng.integers(0, 2, N)
    return np.stack([[rng.choice(len(q[k]), p=q[k]) for k in z] for q in p], 1).astype(float)

def _gaussian(rng, N=600):
    z = rng.integers(0, 2, N)
    return np.array([[0., 0.], [4., -3.]])[z] + rng.standard_normal((N, 2)) * np.array([[1., .5], [.7, 1.2]])[z]

def _gamma(rng, N=600):
    z = rng.integers(0, 2, N)
    a, b = np.array([[2., 9.], [12., 3.]]), np.array([[1., 3.], [2., .5]])
    return rng.gamma(a[z], 1 / b[z])

FAMILIES = dict(bernoulli=_bernoulli, poisson=_poisson, categorical=_categorical, gaussian=_gaussian)

def _estimators():
    "(name, data maker, estimator factory taking extra keyword arguments)."
    out = [(f, FAMILIES[f], lambda f=f, **kw: ExpFamilyMixtureEM(2, family=f, **kw)) for f in FAMILIES]
    out.append(("poisson-map", _poisson, lambda **kw: ExpFamilyMixtureMAP(2, family="poisson", **kw)))
    out += [(f"gamma-{m}", _gamma, lambda m=m, **kw: GammaMixtureGEM(2, m_step=m, **kw)) for m in ("gem", "ecm", "em")]
    return out

ESTIMATORS = _estimators()
IDS = [e[0] for e in ESTIMATORS]

def _params(est):
    "The fitted parameters, by name."
    names = ("weights_", "shapes_", "rates_") if isinstance(est, GammaMixtureGEM) else ("weights_", "means_")
    return {n: getattr(est, n) for n in names}

def _assert_same_fit(a, b, rtol=1e-10):
    for n, v in _params(a).items(): np.testing.assert_allclose(_params(b)[n], v, rtol=rtol, atol=1e-12, err_msg=n)

def _sources(X, tmp_path):
    "The same rows as a memmap, a .npy path, a .csv path, a dask array and a callable of blocks."
    np.save(tmp_path / "x.npy", X)
    np.savetxt(tmp_path / "x.csv", X, delimiter=",", fmt="%.17g")
    return dict(memmap=np.load(tmp_path / "x.npy", mmap_mode="r"), npy=str(tmp_path / "x.npy"), csv=str(tmp_path / "x.csv"),
                dask=da.from_array(X, chunks=(128, X.shape[1])),
                blocks=lambda: (X[i:i + 70] for i in range(0, len(X), 70)))

# ---------------------------------------------------------------- every source, the in-memory answer

@pytest.mark.parametrize("name,make,new", ESTIMATORS, ids=IDS)
def test_every_source_gives_the_in_memory_fit(name, make, new, tmp_path):
    X = make(np.random.default_rng(1))
    ref = new(random_state=0, tol=0, max_iter=25).fit(X)
    for kind, src in _sources(X, tmp_path).items():
        _assert_same_fit(ref, new(random_state=0, tol=0, max_iter=25).fit(src))
        if kind not in ("dask", "blocks"):   # many blocks of 100 rows from an array, a memmap, a .npy and a .csv path
            _assert_same_fit(ref, fit_blocks(new(random_state=0, tol=0, max_iter=25), src, block_rows=100))
    _assert_same_fit(ref, fit_blocks(new(random_state=0, tol=0, max_iter=25), X, block_rows=100))


def _explicit_start(name, X):
    "A start given in full (not drawn from the sample), near the generating parameters."
    if name.startswith("gamma"):
        return dict(weights_init=[.45, .55], shapes_init=[[2.5, 8.], [10., 3.5]], rates_init=[[1.2, 2.8], [1.8, .6]])
    ref = ExpFamilyMixtureEM(2, family=name.split("-")[0], random_state=0, max_iter=3).fit(X)
    return dict(weights_init=[.45, .55], means_init=ref.means_ * 0.9 + 0.1 * ref.means_.mean(0))


@pytest.mark.parametrize("name,make,new", ESTIMATORS, ids=IDS)
def test_beyond_the_sample_an_explicit_start_gives_the_in_memory_fit(name, make, new, tmp_path):
    X = make(np.random.default_rng(2))
    start = _explicit_start(name, X)
    ref = new(tol=0, max_iter=25, **start).fit(X)
    for kind, src in _sources(X, tmp_path).items():
        est = fit_blocks(new(tol=0, max_iter=25, **start), src, init_sample=50, block_rows=100)
        _assert_same_fit(ref, est)
        assert est.n_iter_ == 25 and est.n_features_in_ == X.shape[1]


def test_beyond_the_sample_the_number_of_categories_is_the_datas():
    "The largest code may lie outside the start's sample: the summary's column maxima set the categories."
    X = _categorical(np.random.default_rng(3))
    sample = np.argsort(row_keys(0, 0, len(X)), kind="stable")[:40]   # the rows of the start's sample
    i = max(set(range(len(X))) - set(sample))
    X[i, 0] = 6.   # one row outside the sample with a code no other row has
    est = fit_blocks(ExpFamilyMixtureEM(2, family="categorical", random_state=0), X, init_sample=40, block_rows=100)
    assert est.family_.n_categories == (7, 3)
    ref = ExpFamilyMixtureEM(2, family="categorical", random_state=0).fit(X)
    assert ref.family_.n_categories == (7, 3)


def test_beyond_the_sample_a_constant_column_is_refused_for_the_gamma():
    X = np.c_[_gamma(np.random.default_rng(4)), np.full(600, 2.5)]
    with pytest.raises(ValueError, match=r"Column 2 of X is constant \(2.5\)"):
        fit_blocks(GammaMixtureGEM(2), X, init_sample=50, block_rows=100)

# ---------------------------------------------------------------- partial_fit: Cappé and Moulines' stepwise average

def _poisson_resp(w, lam, X):
    "Responsibilities from scipy's Poisson pmf."
    lp = np.log(w) + np.stack([sst.poisson(l).logpmf(X).sum(1) for l in lam], 1)
    return np.exp(lp - logsumexp(lp, 1, keepdims=True))

def test_partial_fit_is_the_stepwise_average_of_the_batches():
    X = _poisson(np.random.default_rng(5), 900)
    B1, B2 = X[:300], X[300:600]
    w0, lam0 = np.array([.5, .5]), np.array([[2., 4., 2.], [5., 2., 3.]])
    est = ExpFamilyMixtureEM(2, family="poisson", weights_init=w0, means_init=lam0)
    est.partial_fit(B1)   # the first batch initialises: one EM step from the start on it
    R1 = _poisson_resp(w0, lam0, B1)
    np.testing.assert_allclose(est.weights_, R1.mean(0), rtol=1e-10)
    np.testing.assert_allclose(est.means_, R1.T @ B1 / R1.sum(0)[:, None], rtol=1e-10)
    w1, lam1 = est.weights_.copy(), est.means_.copy()
    est.partial_fit(B2)   # s <- (1 - rho) s + rho s(B2), rho = (1 + t0)^-kappa with t0 = 2, kappa = 0.6
    rho = 3. ** -0.6
    R2 = _poisson_resp(w1, lam1, B2)
    N = (1 - rho) * R1.mean(0) + rho * R2.mean(0)
    S = (1 - rho) * R1.T @ B1 / len(B1) + rho * R2.T @ B2 / len(B2)
    np.testing.assert_allclose(est.weights_, N / N.sum(), rtol=1e-10)
    np.testing.assert_allclose(est.means_, S / N[:, None], rtol=1e-10)
    assert est.n_iter_ == 2 and est.converged_ is False


def test_partial_fit_after_fit_continues_from_the_fit():
    X = _poisson(np.random.default_rng(6), 900)
    est = ExpFamilyMixtureEM(2, family="poisson", random_state=0, tol=0, max_iter=8).fit(X[:600])
    w, lam, t = est.weights_.copy(), est.means_.copy(), est.n_iter_
    B = X[600:]
    est.partial_fit(B)
    Rf, Rb = _poisson_resp(w, lam, X[:600]), _poisson_resp(w, lam, B)   # the fit's statistics are those at its parameters
    rho = (t + 2.) ** -0.6
    N = (1 - rho) * Rf.mean(0) + rho * Rb.mean(0)
    S = (1 - rho) * Rf.T @ X[:600] / 600 + rho * Rb.T @ B / len(B)
    np.testing.assert_allclose(est.means_, S / N[:, None], rtol=1e-9)
    np.testing.assert_allclose(est.weights_, N / N.sum(), rtol=1e-9)
    assert est.n_iter_ == t + 1


def test_partial_fit_of_categorical_codes_sets_the_categories_from_the_first_batch():
    X = _categorical(np.random.default_rng(7))
    est = ExpFamilyMixtureEM(2, family="categorical", random_state=0).partial_fit(X[:200])
    assert est.family_.n_categories == tuple(int(c) + 1 for c in X[:200].max(0))
    est.partial_fit(X[200:400])
    np.testing.assert_allclose(est.means_[:, :4].sum(1), 1., rtol=1e-12)   # each column's frequencies sum to 1
    bad = X[400:].copy(); bad[3, 1] = 5.
    with pytest.raises(ValueError, match="value 5 in column 1 at row 3"): est.partial_fit(bad)


def _gamma_mle_shape(s):
    "The Gamma shape with log a - digamma(a) = s, by bracketing (scipy's brentq)."
    return brentq(lambda a: np.log(a) - digamma(a) - s, 1e-8, 1e8, xtol=1e-14, rtol=1e-15)

def test_gamma_partial_fit_first_batch_is_one_em_step_from_the_start():
    X = _gamma(np.random.default_rng(8))[:250]
    w0, a0, b0 = np.array([.4, .6]), np.array([[2., 8.], [11., 3.]]), np.array([[1., 2.5], [2., .6]])
    est = GammaMixtureGEM(2, m_step="em", weights_init=w0, shapes_init=a0, rates_init=b0).partial_fit(X)
    lp = np.log(w0) + np.stack([sst.gamma(a0[k], scale=1 / b0[k]).logpdf(X).sum(1) for k in range(2)], 1)
    R = np.exp(lp - logsumexp(lp, 1, keepdims=True))
    mx, ml = R.T @ X / R.sum(0)[:, None], R.T @ np.log(X) / R.sum(0)[:, None]
    a = np.vectorize(_gamma_mle_shape)(np.log(mx) - ml)
    np.testing.assert_allclose(est.weights_, R.mean(0), rtol=1e-10)
    np.testing.assert_allclose(est.shapes_, a, rtol=1e-9)
    np.testing.assert_allclose(est.rates_, a / mx, rtol=1e-9)
    est.partial_fit(_gamma(np.random.default_rng(9))[:250])
    assert est.n_iter_ == 2 and np.isfinite(est.shapes_).all()

@pytest.mark.parametrize("name,make,new", ESTIMATORS, ids=IDS)
def test_partial_fit_streams_every_estimator(name, make, new):
    "The first batch initialises, later batches update; after fit, partial_fit continues from the fit's parameters."
    X = make(np.random.default_rng(17))
    est = new(random_state=0)
    for i in range(0, 600, 150): est.partial_fit(X[i:i + 150])
    assert est.n_iter_ == 4 and all(np.isfinite(v).all() for v in _params(est).values())
    fitted = new(random_state=0, max_iter=10).fit(X[:450])
    t, before = fitted.n_iter_, {k: v.copy() for k, v in _params(fitted).items()}
    fitted.partial_fit(X[450:])
    assert fitted.n_iter_ == t + 1
    assert any(not np.array_equal(v, before[k]) for k, v in _params(fitted).items())   # the batch moved the fit
    for k, v in _params(fitted).items(): np.testing.assert_allclose(v, before[k], rtol=.5, atol=.05)   # but did not restart it


# ---------------------------------------------------------------- bad blocks name their block and the data's row

BAD = dict(bernoulli=2., poisson=0.5, categorical=-1., exponential=-0.25)

@pytest.mark.parametrize("family", list(BAD))
@pytest.mark.parametrize("kind", ["dask", "blocks", "npy"])
def test_a_value_outside_the_support_in_block_2_names_block_and_row(family, kind, tmp_path):
    rng = np.random.default_rng(10)
    X = _poisson(rng) if family in ("poisson", "categorical") else _bernoulli(rng)
    X = np.minimum(X, 3.)
    X[257, 1] = BAD[family]
    src = dict(dask=lambda: da.from_array(X, chunks=(100, X.shape[1])),
               blocks=lambda: (lambda: (X[i:i + 100] for i in range(0, len(X), 100))),
               npy=lambda: (np.save(tmp_path / "x.npy", X), str(tmp_path / "x.npy"))[1])[kind]()
    est = ExpFamilyMixtureEM(2, family=family)
    with pytest.raises(ValueError, match=r"column 1 at row 257 of the data \(block 2, its row 57\), the first row outside"):
        fit_blocks(est, src, block_rows=100)


@pytest.mark.parametrize("kind", ["dask", "blocks"])
def test_a_non_positive_value_in_block_2_names_block_and_row_for_the_gamma(kind):
    X = _gamma(np.random.default_rng(11))
    X[233, 0] = 0.
    src = da.from_array(X, chunks=(100, 2)) if kind == "dask" else (lambda: (X[i:i + 100] for i in range(0, 600, 100)))
    with pytest.raises(ValueError, match=r"column 0 has 0.0 at row 233 of the data \(block 2, its row 33\)"):
        GammaMixtureGEM(2).fit(src)


def test_the_row_checks_survive_pickling():
    "They run on dask workers, which receive them pickled."
    bad = np.array([[1., 2.], [3., -1.]])
    for est in (ExpFamilyMixtureEM(2, family="poisson"), GammaMixtureGEM(2)):
        check = pickle.loads(pickle.dumps(est._row_check()))
        with pytest.raises(ValueError, match=r"row 8 of the data \(block 4, its row 1\)"): check(bad, 4, 7)


@pytest.mark.parametrize("name,make,new", [e for e in ESTIMATORS if e[0] in ("poisson", "categorical", "gamma-gem")],
                         ids=["poisson", "categorical", "gamma-gem"])
def test_a_failed_fit_leaves_a_fitted_estimator_unchanged(name, make, new):
    X = make(np.random.default_rng(12))
    est = new(random_state=0).fit(X)
    before = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in vars(est).items() if k.endswith("_")}
    bad = X.copy(); bad[250, 0] = -3.
    with pytest.raises(ValueError, match="row 250 of the data"):
        est.fit(da.from_array(bad, chunks=(100, X.shape[1])))
    with pytest.raises(ValueError, match="row 250"): est.partial_fit(bad)
    after = {k: v for k, v in vars(est).items() if k.endswith("_")}
    assert before.keys() == after.keys()
    for k, v in before.items():
        if isinstance(v, np.ndarray): np.testing.assert_array_equal(after[k], v)
        else: assert after[k] == v or after[k] is v, k
    np.testing.assert_array_equal(est.predict(X), new(random_state=0).fit(X).predict(X))

# ---------------------------------------------------------------- an exponential component on exact zeros

def _zeros_data():
    "400 draws of Exp(1), the first 20 set to exact zeros."
    X = np.random.default_rng(0).exponential(1., (400, 1))
    X[:20] = 0.
    return X

def test_a_component_collapsing_onto_exact_zeros_is_refused():
    X = _zeros_data()
    est = ExpFamilyMixtureEM(2, family="exponential", weights_init=[.1, .9], means_init=[[.05], [1.]], max_iter=500)
    with pytest.raises(ValueError, match=r"Component 0 has mean .* in column 0, at or below the column's resolution "
                                         r".*collapsed onto exact zeros.*ExpFamilyMixtureMAP"):
        est.fit(X)
    assert not hasattr(est, "converged_")   # never reported as converged
    est.set_params(max_iter=100).fit(X[20:])   # without the zeros it fits; a refused refit leaves that fit as it was
    w, mu, n = est.weights_.copy(), est.means_.copy(), est.n_iter_
    with pytest.raises(ValueError, match="collapsed onto exact zeros"): est.fit(X)
    np.testing.assert_array_equal(est.weights_, w); np.testing.assert_array_equal(est.means_, mu); assert est.n_iter_ == n
    with pytest.raises(ValueError, match="collapsed onto exact zeros"):   # the same from a stream
        ExpFamilyMixtureEM(2, family="exponential", weights_init=[.1, .9], means_init=[[.05], [1.]],
                           max_iter=500).fit(da.from_array(X, chunks=(100, 1)))


def test_the_resolution_is_float64s_unit_at_the_columns_largest_value():
    fam = Exponential().from_range(np.array([0., 1.]), np.array([6., 1e-20]))
    delta = np.finfo(float).eps * np.array([6., 1e-20])
    np.testing.assert_array_equal(fam.resolution, delta)
    fam.check_means(np.array([[2 * delta[0], 2 * delta[1]]]))   # just above: accepted
    with pytest.raises(ValueError, match="Component 1 has mean .* in column 1"):
        fam.check_means(np.array([[1., 1.], [1., delta[1]]]))     # at the resolution: refused


def test_exact_zeros_are_fine_where_no_component_collapses():
    X = _zeros_data()
    one = ExpFamilyMixtureEM(1, family="exponential").fit(X)   # K = 1: the maximum likelihood mean is the sample mean
    np.testing.assert_allclose(one.means_, [[X.mean()]], rtol=1e-12)
    np.testing.assert_allclose(one.score(X), sst.expon(scale=X.mean()).logpdf(X).mean(), rtol=1e-12)
    m = ExpFamilyMixtureMAP(2, family="exponential", weights_init=[.1, .9], means_init=[[.05], [1.]], max_iter=500).fit(X)
    assert np.isfinite(m.score(X)) and (m.means_ > 1e-3).all()   # the Gamma prior keeps the rates finite

# ---------------------------------------------------------------- parameters stay in their domain

def test_bernoulli_means_stay_in_0_1_when_a_component_holds_only_ones():
    "Weighted data, half of whose rows are all ones: S_k / N_k came out one ulp above 1, and scipy's pmf NaN."
    rng = np.random.default_rng(57)
    N, D = int(rng.integers(5, 3000)), int(rng.integers(1, 12))
    X = (rng.uniform(size=(N, D)) < 0.5).astype(float); X[:N // 2] = 1
    w = rng.uniform(0.1, 3, size=N)
    est = ExpFamilyMixtureEM(2, family="bernoulli", random_state=0, max_iter=20).fit(X, sample_weight=w)
    assert (est.means_ >= 0).all() and (est.means_ <= 1).all()
    lp = np.log(est.weights_) + np.stack([sst.bernoulli(m).logpmf(X).sum(1) for m in est.means_], 1)
    assert not np.isnan(lp).any()   # -inf is right (a zero under a mean of exactly 1); NaN was the bug
    np.testing.assert_allclose(est.score_samples(X), logsumexp(lp, 1), rtol=1e-10)


def test_the_m_step_clips_a_mean_one_ulp_outside_its_domain():
    N = 3e6   # large enough that N_k's 10 eps is below its ulp
    T = np.array([[N * (1 + 4 * np.finfo(float).eps), 0., N, 0.]])   # S_1 = N (1 + 4 eps) > N_1 = N, S_2 = 0
    assert T[0, 0] / (T[0, 2] + 10 * np.finfo(float).eps) > 1   # unclipped, the mean would leave [0, 1]
    p = ExpFamilyEM(Bernoulli()).m_step(Stats(T, 0., 0., N), None)
    np.testing.assert_array_equal(p.means, [[1., 0.]])
    T = np.array([[-1e-300, 5., 5., 0.]])
    assert (ExpFamilyEM(Categorical((2,))).m_step(Stats(T, 0., 0., 5.), None).means >= 0).all()


def test_means_init_outside_the_mean_domain_is_refused():
    X = _bernoulli(np.random.default_rng(13))
    with pytest.raises(ValueError, match="means_init has values outside the bernoulli family's mean parameters"):
        ExpFamilyMixtureEM(2, weights_init=[.5, .5], means_init=np.full((2, 4), 1.2)).fit(X)

# ---------------------------------------------------------------- the Gamma GEM's starting values

def test_gamma_starting_values_are_used_as_given():
    "With every start given, one exact EM step from it equals the step computed from scipy's densities."
    X = _gamma(np.random.default_rng(14))
    w0, a0, b0 = np.array([.3, .7]), np.array([[3., 6.], [9., 2.]]), np.array([[1.5, 2.], [1.5, .8]])
    est = GammaMixtureGEM(2, m_step="em", weights_init=w0, shapes_init=a0, rates_init=b0, tol=0, max_iter=1).fit(X)
    lp = np.log(w0) + np.stack([sst.gamma(a0[k], scale=1 / b0[k]).logpdf(X).sum(1) for k in range(2)], 1)
    R = np.exp(lp - logsumexp(lp, 1, keepdims=True))
    mx, ml = R.T @ X / R.sum(0)[:, None], R.T @ np.log(X) / R.sum(0)[:, None]
    a = np.vectorize(_gamma_mle_shape)(np.log(mx) - ml)
    np.testing.assert_allclose(est.weights_, R.mean(0), rtol=1e-10)
    np.testing.assert_allclose(est.shapes_, a, rtol=1e-9)
    np.testing.assert_allclose(est.rates_, a / mx, rtol=1e-9)


def test_gamma_a_missing_start_block_is_the_conditional_maximiser_of_the_given_one():
    X = _gamma(np.random.default_rng(15))
    rng = np.random.default_rng(0)
    est = GammaMixtureGEM(1, shapes_init=[[2., 5.]])   # K = 1: the start's responsibilities are all 1
    est._validate(X)
    p = est._init_state(est._make_model(X, None), X, None, rng)
    np.testing.assert_allclose(p.rates, np.array([[2., 5.]]) / X.mean(0), rtol=1e-12)   # argmax_b a log b - b mean x
    est = GammaMixtureGEM(1, rates_init=[[1., .5]])
    est._validate(X)
    p = est._init_state(est._make_model(X, None), X, None, rng)
    np.testing.assert_allclose(digamma(p.shapes), np.log(X).mean(0) + np.log([[1., .5]]), rtol=1e-10)   # argmax_a


@pytest.mark.parametrize("kw,msg", [
    (dict(weights_init=[.5, .3]), "weights_init must sum to 1"),
    (dict(weights_init=[1., 0.]), "weights_init must be positive finite numbers"),
    (dict(weights_init=[1.]), r"weights_init must have shape \(2,\)"),
    (dict(shapes_init=[[1., 2.]]), r"shapes_init must have shape \(2, 2\)"),
    (dict(shapes_init=[[1., 2.], [0., 1.]]), "shapes_init must be positive finite numbers"),
    (dict(rates_init=[[1., 2.], [np.nan, 1.]]), "rates_init must be positive finite numbers"),
    (dict(rates_init="fast"), "rates_init must be positive finite numbers of shape"),
])
def test_gamma_bad_starting_values_get_one_line(kw, msg):
    X = _gamma(np.random.default_rng(16))
    with pytest.raises(ValueError, match=msg) as e: GammaMixtureGEM(2, **kw).fit(X)
    assert "\n" not in str(e.value)
