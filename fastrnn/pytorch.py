"""`from_torch`: a ``torch.nn.RNN``, ``LSTM`` or ``GRU`` as the matching fastrnn layer.

fastrnn's layers take PyTorch's constructor arguments and ``state_dict`` names
and layouts (`fastrnn.LSTM`), so the conversion reads the module's
options, builds the layer and copies the parameters. torch is imported only
when `from_torch` is called.
"""
import numpy as np

from . import layers

#: the torch module's attributes the layer is built from (all of torch's options)
OPTIONS = ("input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout",
           "bidirectional", "proj_size", "nonlinearity")
#: fastrnn's layer for each torch module, by torch's ``mode``
LAYERS = {"RNN_TANH": layers.RNN, "RNN_RELU": layers.RNN, "LSTM": layers.LSTM,
          "GRU": layers.GRU}


def from_torch(module, backend=None):
    """The fastrnn layer that computes what a ``torch.nn.RNN``, ``LSTM`` or ``GRU`` does.

    Every option carries over: ``num_layers``, ``bidirectional``, ``batch_first``,
    ``nonlinearity`` (RNN), ``bias``, ``proj_size`` (LSTM) and ``dropout`` (between
    layers, in training). The parameters are copied (the module is not changed,
    and later changes to it do not reach the layer), with the module's dtype.

    Parameters
    ----------
    module : torch.nn.RNN, torch.nn.LSTM or torch.nn.GRU
        The module, float32 or float64, on any device.
    backend : {None, "auto", "numpy", "cpu", "cuda"}, default None
        The backend of the layer's calls (None: the current one).

    Returns
    -------
    fastrnn.RNN, fastrnn.LSTM or fastrnn.GRU
        The layer: ``layer(x, state, lengths)`` gives torch's ``module(x, state)``
        (with ``lengths``, what a PackedSequence of those lengths gives, padded
        with zeros).

    Raises
    ------
    TypeError
        If ``module`` is not one of those torch modules, or its parameters are not
        float32 or float64.

    See Also
    --------
    fastrnn.LSTM : The layer, with PyTorch's parameters.

    Examples
    --------
    >>> import numpy as np
    >>> import torch
    >>> import fastrnn
    >>> _ = torch.manual_seed(0)
    >>> lstm = torch.nn.LSTM(3, 8, num_layers=2, batch_first=True, proj_size=4)
    >>> layer = fastrnn.from_torch(lstm)
    >>> x = np.random.default_rng(0).standard_normal((2, 5, 3)).astype(np.float32)
    >>> y, (h_n, c_n) = layer(x)
    >>> y_torch, _ = lstm(torch.from_numpy(x))
    >>> y.shape, bool(np.allclose(y, y_torch.detach().numpy(), atol=1e-5))
    ((2, 5, 4), True)
    """
    import torch

    if not isinstance(module, (torch.nn.RNN, torch.nn.LSTM, torch.nn.GRU)):
        raise TypeError(f"module must be a torch.nn.RNN, torch.nn.LSTM or torch.nn.GRU, got "
                        f"{type(module).__module__}.{type(module).__name__}")
    state_dict = {k: v.detach().cpu() for k, v in module.state_dict().items()}
    dtypes = sorted({str(v.dtype) for v in state_dict.values()})
    if dtypes not in (["torch.float32"], ["torch.float64"]):
        raise TypeError(f"module's parameters must be float32 or float64 (fastrnn's dtypes), "
                        f"got {', '.join(dtypes)}; convert it with module.float() or "
                        f"module.double()")
    options = {name: getattr(module, name) for name in OPTIONS if hasattr(module, name)}
    return from_options(module.mode, options, {k: v.numpy() for k, v in state_dict.items()},
                        backend)


def from_options(mode, options, state_dict, backend=None):
    """The layer for torch's ``mode`` and options, with ``state_dict`` (NumPy arrays) copied in.

    What `from_torch` does once it has read the module: the golden files
    (tests/golden/torch) store exactly these three things, so the conversion is
    checked without torch.

    Parameters
    ----------
    mode : {"RNN_TANH", "RNN_RELU", "LSTM", "GRU"}
        torch's ``module.mode``.
    options : dict
        The module's attributes named in `OPTIONS` (those it has).
    state_dict : dict of str to numpy.ndarray
        The module's parameters, float32 or float64.
    backend : {None, "auto", "numpy", "cpu", "cuda"}, default None
        The layer's backend.

    Returns
    -------
    fastrnn.RNN, fastrnn.LSTM or fastrnn.GRU
        The layer.

    Raises
    ------
    ValueError
        If ``mode`` is not one of those, or ``state_dict`` does not fit the options.

    Examples
    --------
    >>> import numpy as np
    >>> from fastrnn.pytorch import from_options
    >>> state = {"weight_ih_l0": np.ones((4, 3)), "weight_hh_l0": np.ones((4, 4))}
    >>> rnn = from_options("RNN_RELU", dict(input_size=3, hidden_size=4, bias=False), state)
    >>> rnn.nonlinearity, rnn.dtype
    ('relu', dtype('float64'))
    """
    if mode not in LAYERS:
        raise ValueError(f"mode must be one of {tuple(LAYERS)}, got {mode!r}")
    args = {k: v for k, v in options.items() if k != "nonlinearity"}
    if mode.startswith("RNN"):
        args["nonlinearity"] = options.get("nonlinearity", mode[4:].lower())
    if mode != "LSTM":
        args.pop("proj_size", None)
    dtype = next(iter(state_dict.values())).dtype
    layer = LAYERS[mode](**args, dtype=np.dtype(dtype), backend=backend)
    layer.load_state_dict(state_dict)
    return layer
