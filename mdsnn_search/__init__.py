"""mdsnn-search: multi-objective compression search for spiking neural networks on crossbars.

Importing the package is cheap: it loads neither ray nor torch. Subpackages:

- ``mdsnn_search.snn``: quantizers, the quantized LIF neuron, model builders (torch).
- ``mdsnn_search.data``: datasets and spike encodings (torch, tonic, scikit-learn).
- ``mdsnn_search.hardware``: the crossbar cost model (pure Python).
- ``mdsnn_search.cli``: the ``mdsnn-search`` command.
"""

from mdsnn_search.errors import ConfigError, DataError, MdsnnError

__version__ = "0.1.0"

__all__ = ["ConfigError", "DataError", "MdsnnError", "__version__"]
