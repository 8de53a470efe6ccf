"""fastrnn.nn under bad input and interruption: fit, evaluate and predict check every
argument before they touch the parameters, and an optimizer step is all or nothing, so
a fit that raises (or is interrupted) leaves the model as after its last completed step."""
import os
import signal

import numpy as np
import pytest

from fastrnn import nn

N, T, I, C = 24, 5, 3, 4


def task(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, T, I)).astype(np.float32)
    labels = rng.integers(0, C, N)
    return x, labels


def model(seed=0, **kw):
    return nn.SequenceClassifier(I, 6, C, seed=seed, backend="numpy", **kw)


def snapshot(m):
    return {k: v.copy() for k, v in m.params.items()}


def assert_params(m, expected):
    assert list(m.params) == list(expected)
    for k, v in m.params.items():
        np.testing.assert_array_equal(v, expected[k], err_msg=k)


def last_in_order(seed=0):
    """The index that fit(seed=seed) visits last in its first epoch."""
    return int(np.random.default_rng(seed).permutation(N)[-1])


def bad_label_at_the_end(value):
    x, labels = task()
    labels[last_in_order()] = value
    return dict(x=x, labels=labels)


def fit_cases():
    x, labels = task()
    other = model(seed=1)
    cases = {
        "label == num_classes, in the last batch": (bad_label_at_the_end(C), ValueError,
                                                    r"labels must lie in \[0, 4\).*got 4"),
        "label -1, in the last batch": (bad_label_at_the_end(-1), ValueError,
                                        r"labels must lie in \[0, 4\).*got -1"),
        "labels longer than x": (dict(labels=np.r_[labels, 0]), ValueError,
                                 r"labels must have shape \(24,\)"),
        "labels shorter than x": (dict(labels=labels[:-1]), ValueError,
                                  r"labels must have shape \(24,\)"),
        "float labels": (dict(labels=labels.astype(float)), TypeError, "labels must be integers"),
        "string labels": (dict(labels="0123"), TypeError, "labels must be"),
        "lengths shorter than x": (dict(lengths=np.full(N - 1, T)), ValueError,
                                   r"lengths must have shape \(24,\)"),
        "lengths longer than x": (dict(lengths=np.full(N + 1, T)), ValueError,
                                  r"lengths must have shape \(24,\)"),
        "a length of 0": (dict(lengths=np.r_[np.full(N - 1, T), 0]), ValueError,
                          "lengths must be ≥ 1"),
        "a length > T": (dict(lengths=np.r_[np.full(N - 1, T), T + 1]), ValueError,
                         r"lengths must lie in \[0, T=5\]"),
        "batch_size 0": (dict(batch_size=0), ValueError, "batch_size must be an integer ≥ 1"),
        "batch_size -8": (dict(batch_size=-8), ValueError, "batch_size must be an integer ≥ 1"),
        "batch_size 2.5": (dict(batch_size=2.5), TypeError, "batch_size must be an integer"),
        "batch_size True": (dict(batch_size=True), TypeError, "batch_size must be an integer"),
        "epochs -1": (dict(epochs=-1), ValueError, "epochs must be an integer ≥ 0"),
        "epochs 1.5": (dict(epochs=1.5), TypeError, "epochs must be an integer"),
        "clip 0": (dict(clip=0), ValueError, "clip must be a number > 0"),
        "clip -1": (dict(clip=-1.0), ValueError, "clip must be a number > 0"),
        "clip nan": (dict(clip=float("nan")), ValueError, "clip must be a number > 0"),
        "clip a string": (dict(clip="1"), TypeError, "clip must be a number"),
        "empty dataset": (dict(x=x[:0], labels=labels[:0]), ValueError, "x is empty"),
        "x 2-d": (dict(x=x[:, 0]), ValueError, r"x must have shape \(N, T, 3\)"),
        "x with the wrong feature size": (dict(x=np.zeros((N, T, I + 1), np.float32)),
                                          ValueError, r"x must have shape \(N, T, 3\)"),
        "x with no time steps": (dict(x=x[:, :0]), ValueError, "at least one time step"),
        "x float64 for a float32 model": (dict(x=x.astype(np.float64)), TypeError,
                                          "x must have dtype float32"),
        "x int": (dict(x=x.astype(np.int64)), TypeError, "x must have dtype float32"),
        "x a list": (dict(x=x.tolist()), TypeError, "x must be a NumPy array"),
        "x with a NaN": (dict(x=np.where(np.arange(N)[:, None, None] == last_in_order(),
                                         np.float32(np.nan), x)), ValueError,
                         "x must be finite"),
        "an optimizer of another model": (dict(optimizer=nn.Adam(other.params)), ValueError,
                                          "optimizer must update this model's parameters"),
        "an optimizer without step": (dict(optimizer=object()), TypeError,
                                      "optimizer must have a step"),
        "lr_schedule NaN at the last epoch": (
            dict(epochs=3, lr_schedule=lambda e: float("nan") if e == 2 else 1e-2), ValueError,
            r"lr_schedule\(2\) must be a finite number"),
        "lr_schedule not callable": (dict(lr_schedule=0.1), TypeError, "lr_schedule must be"),
        "validation labels out of range": (dict(validation_data=(x, labels + C)), ValueError,
                                           "validation_data labels must lie in"),
        "validation x of the wrong size": (dict(validation_data=(x[:, :, :2], labels)),
                                           ValueError, r"validation_data x must have shape"),
        "validation_data not a pair": (dict(validation_data=x), TypeError,
                                       "validation_data must be a pair"),
    }
    return cases


CASES = fit_cases()


@pytest.mark.parametrize("case", list(CASES))
def test_fit_checks_everything_before_the_first_step(case):
    kwargs, error, match = CASES[case]
    x, labels = task()
    args = dict(x=x, labels=labels, epochs=1, batch_size=4, progress=False)
    args.update(kwargs)
    m = model()
    args.setdefault("optimizer", nn.Adam(m.params, lr=0.05))
    before = snapshot(m)
    with pytest.raises(error, match=match):
        m.fit(**args)
    assert_params(m, before)
    if isinstance(args["optimizer"], nn.Adam):
        assert args["optimizer"].t == 0


def test_fit_with_zero_epochs_trains_nothing():
    x, labels = task()
    m = model()
    before = snapshot(m)
    assert m.fit(x, labels, epochs=0, progress=False) == {"loss": [], "acc": [], "seconds": []}
    assert_params(m, before)


@pytest.mark.parametrize("method", ["evaluate", "predict", "predict_proba"])
def test_evaluate_and_predict_check_their_arguments(method):
    x, labels = task()
    m = model()
    call = getattr(m, method)
    first = (x, labels) if method == "evaluate" else (x,)
    with pytest.raises(ValueError, match=r"x must have shape \(N, T, 3\)"):
        call(x[:, :, :2], *first[1:])
    with pytest.raises(TypeError, match="x must have dtype float32"):
        call(x.astype(np.float64), *first[1:])
    with pytest.raises(ValueError, match="batch_size must be an integer ≥ 1"):
        call(*first, batch_size=0)
    with pytest.raises(ValueError, match=r"lengths must have shape \(24,\)"):
        call(*first, lengths=np.full(N - 1, T))
    with pytest.raises(ValueError, match="x must be finite"):
        call(np.full_like(x, np.inf), *first[1:])
    if method == "evaluate":
        with pytest.raises(ValueError, match=r"labels must lie in \[0, 4\)"):
            call(x, np.r_[labels[:-1], C])
        with pytest.raises(ValueError, match=r"labels must have shape \(24,\)"):
            call(x, labels[:-1])
        with pytest.raises(ValueError, match="x is empty"):
            call(x[:0], labels[:0])
    else:
        assert len(call(x[:0])) == 0         # predicting on nothing gives nothing


@pytest.mark.parametrize("max_norm,error", [(-1.0, ValueError), (0, ValueError),
                                            (float("nan"), ValueError), ("1", TypeError),
                                            (None, TypeError)])
def test_clip_grad_norm_refuses_a_bad_max_norm(max_norm, error):
    grads = {"a": np.array([3.0, 4.0])}
    with pytest.raises(error, match="max_norm must be a number > 0"):
        nn.clip_grad_norm(grads, max_norm)
    assert nn.clip_grad_norm(grads, float("inf"))[0]["a"].tolist() == [3.0, 4.0]


class InterruptAt(dict):
    """A grads dict that raises KeyboardInterrupt when its key ``at`` is read."""

    def __init__(self, grads, at):
        super().__init__(grads)
        self.at = at

    def __getitem__(self, k):
        if k == self.at:
            raise KeyboardInterrupt
        return super().__getitem__(k)


def two_params():
    return {"a": np.ones(3), "b": np.full((2, 2), 2.0)}


@pytest.mark.parametrize("make", [lambda p: nn.Adam(p, lr=0.1),
                                  lambda p: nn.SGD(p, lr=0.1, momentum=0.9)])
def test_an_optimizer_step_is_all_or_nothing(make):
    params = two_params()
    opt = make(params)
    grads = {"a": np.full(3, 0.5), "b": np.full((2, 2), -1.0)}
    opt.step(grads)                                   # one good step
    after_one = {k: v.copy() for k, v in params.items()}
    state = {k: v.copy() for k, v in getattr(opt, "m", getattr(opt, "velocity", {})).items()}
    with pytest.raises(KeyError, match=r"no entry for the parameters \['b'\]"):
        opt.step({"a": grads["a"]})
    with pytest.raises(ValueError, match=r"grads\['b'\] must have the shape"):
        opt.step({"a": grads["a"], "b": np.zeros(4)})
    with pytest.raises(KeyboardInterrupt):
        opt.step(InterruptAt(grads, "b"))
    for k in params:
        np.testing.assert_array_equal(params[k], after_one[k])
        np.testing.assert_array_equal(getattr(opt, "m", getattr(opt, "velocity", {}))[k],
                                      state[k])
    assert getattr(opt, "t", 1) == 1


class SigintOnWrite(np.ndarray):
    """A parameter array that sends this process SIGINT while it is being assigned."""

    def __setitem__(self, key, value):
        os.kill(os.getpid(), signal.SIGINT)
        super().__setitem__(key, value)


@pytest.mark.skipif(not hasattr(signal, "SIGINT") or os.name != "posix", reason="POSIX signals")
def test_ctrl_c_during_the_assignments_waits_for_the_step_to_finish():
    params = {"a": np.ones(3).view(SigintOnWrite), "b": np.ones(3), "c": np.ones(3)}
    opt = nn.Adam(params, lr=0.1)
    with pytest.raises(KeyboardInterrupt):
        opt.step({k: np.ones(3) for k in params})
    for k in params:                       # every parameter moved, and the step was counted
        np.testing.assert_allclose(np.asarray(params[k]), 0.9)
    assert opt.t == 1


def recording(base):
    class Recording(base):
        """An optimizer that keeps a copy of the parameters after each completed step
        and, at step ``fail_at``, is interrupted while reading the gradients."""

        def __init__(self, params, fail_at=None, **kw):
            super().__init__(params, **kw)
            self.fail_at, self.after = fail_at, []

        def step(self, grads):
            if self.fail_at is not None and len(self.after) + 1 == self.fail_at:
                grads = InterruptAt(grads, list(grads)[-1])
            super().step(grads)
            self.after.append({k: v.copy() for k, v in self.params.items()})
    return Recording


def test_a_fit_interrupted_mid_step_keeps_the_last_completed_step():
    x, labels = task()
    m = model()
    opt = recording(nn.Adam)(m.params, fail_at=3, lr=0.05)
    with pytest.raises(KeyboardInterrupt):
        m.fit(x, labels, epochs=2, batch_size=4, optimizer=opt, progress=False)
    assert opt.t == 2 and len(opt.after) == 2
    assert not np.array_equal(opt.after[-1]["fc.weight"], snapshot(model())["fc.weight"])
    assert_params(m, opt.after[-1])


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_a_diverging_fit_stops_before_the_step_that_would_go_non_finite():
    x, labels = task()
    m = model()
    opt = recording(nn.SGD)(m.params, lr=1e38)
    with pytest.raises(FloatingPointError, match=r"fit: epoch \d+, batch \d+: .*non-finite"):
        m.fit(x, labels, epochs=5, batch_size=4, optimizer=opt, progress=False)
    assert all(np.isfinite(v).all() for v in m.params.values())
    assert_params(m, opt.after[-1] if opt.after else snapshot(model()))
