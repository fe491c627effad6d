"""mdsnn-search: multi-objective compression search for spiking neural networks on crossbars.

Importing the package is cheap: it loads neither ray nor torch. The Python API (docs/python-api.md),
plain functions over the code the ``mdsnn-search`` commands run:

- :func:`load_spec`: a validated study spec from a file or a mapping;
- :func:`run`: run or resume a study, returning the ``optuna.Study``;
- :func:`open_study`: a stored study, read-only;
- :func:`front`: its Pareto front as a :class:`Front`: :class:`FrontTrial` records with the
  baselines marked, the full-precision reference, the hypervolume and the iso-cost gains;
- :func:`export`: trials as train configs, or their trained students as NIR files;
- :func:`train`: train an exported config (or any train config);
- :func:`cost`: the crossbar cost of a model configuration.

They raise the project's errors (:class:`MdsnnError` and its subclasses) with the one-line
messages the commands print. Subpackages:

- ``mdsnn_search.snn``: quantizers, the quantized LIF neuron, model builders, NIR export (torch).
- ``mdsnn_search.data``: datasets and spike encodings (torch, tonic, scikit-learn).
- ``mdsnn_search.hardware``: the crossbar cost model (pure Python).
- ``mdsnn_search.cli``: the ``mdsnn-search`` command.
"""

from mdsnn_search.api import (
    Front,
    FrontTrial,
    cost,
    export,
    front,
    load_spec,
    open_study,
    run,
    train,
)
from mdsnn_search.errors import ConfigError, DataError, MdsnnError, StudyError

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "DataError",
    "Front",
    "FrontTrial",
    "MdsnnError",
    "StudyError",
    "__version__",
    "cost",
    "export",
    "front",
    "load_spec",
    "open_study",
    "run",
    "train",
]
