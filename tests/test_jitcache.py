"""fastrnn's functions are cached on disk keyed on every module of their package directory
(``fastrnn._jitcache``), not only their own: a change to ``cpu/_tile.py`` alone must make
``cpu/_loops.py``'s cached functions compile again, since each carries its own copy of the
``_tile`` code it calls."""
import json
import os
import shutil
import subprocess
import sys

import fastrnn

PROBE = """
import json, numpy as np
from fastrnn.cpu import _loops, _tile
w = np.arange(40 * 6, dtype=np.float32).reshape(40, 6)
panels = _loops.pack_units(w, 4, 10, 0, 10)
print(json.dumps(dict(hits=sum(_loops.pack_units.stats.cache_hits.values()),
                      misses=sum(_loops.pack_units.stats.cache_misses.values()),
                      same=bool((panels[1, :, :10] == w[10:20].T).all()))))
"""


def probe(root):
    env = dict(os.environ, PYTHONPATH=str(root), NUMBA_CACHE_DIR="")
    env.pop("NUMBA_CACHE_DIR")
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, cwd=str(root), check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_a_change_to_a_callee_module_recompiles_its_callers(tmp_path):
    package = os.path.dirname(fastrnn.__file__)
    shutil.copytree(package, tmp_path / "fastrnn", ignore=shutil.ignore_patterns("__pycache__"))
    first, again = probe(tmp_path), probe(tmp_path)
    assert first["misses"] == 1 and first["same"]
    assert again == dict(hits=1, misses=0, same=True)       # the cache works as before
    # _tile.py changes, _loops.py does not: pack_units (in _loops) compiles again
    with open(tmp_path / "fastrnn" / "cpu" / "_tile.py", "a") as f:
        f.write("\n# a change\n")
    assert probe(tmp_path) == dict(hits=0, misses=1, same=True)
    assert probe(tmp_path) == dict(hits=1, misses=0, same=True)


def test_every_cached_cpu_function_is_stamped():
    """Every Numba function fastrnn caches on disk (the cpu backend's modules, the time loops
    ``_loops.specialize`` makes, ``nn.Adam``'s kernel) is keyed by ``_jitcache``'s locator,
    whichever module was imported first."""
    import importlib
    import pkgutil
    import fastrnn.cpu
    from fastrnn import _adam
    from fastrnn.cpu import _cells, _loops
    modules = [_adam] + [importlib.import_module(f"fastrnn.cpu.{m.name}")
                         for m in pkgutil.iter_modules(fastrnn.cpu.__path__)]
    found = [v for m in modules for v in vars(m).values() if hasattr(v, "_cache")]
    found += list(_loops.specialize(_cells.LSTM, True, True, False, False))
    cached = [f for f in found if hasattr(f._cache, "_impl")]
    assert len(cached) > 20
    for f in cached:
        assert getattr(type(f._cache._impl.locator), "fastrnn", False), f


def test_import_fastrnn_loads_no_numba():
    code = "import sys, fastrnn; print('numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True).stdout
    assert out.strip() == "False"


def test_only_fastrnn_functions_are_stamped():
    from numba.core import caching
    from fastrnn import _jitcache
    impl = getattr(caching, "CacheImpl", None) or caching._CacheImpl
    ours = impl._locator_classes[0]
    assert getattr(ours, "fastrnn", False)
    assert ours.from_function(test_only_fastrnn_functions_are_stamped, __file__) is None
    from fastrnn.cpu import _tile
    stamp = _tile.pack._cache._impl.locator.get_source_stamp()
    assert stamp[1] == _jitcache.sources_digest(os.path.dirname(_tile.__file__))
