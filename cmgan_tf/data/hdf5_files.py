"""The arrays of an HDF5 file, as h5py writes them or as MATLAB v7.3 does.

MATLAB v7.3 `.mat` files are HDF5 containers (which scipy does not read), and
the SDML / MRL feature files are plain HDF5; both come here, so that a
truncated or corrupt file is one `InvalidInputError` naming it rather than an
h5py traceback.
"""

import h5py
import numpy as np
import scipy.sparse

from cmgan_tf.errors import InvalidInputError


class UnreadableVariable:
    """Stands for a root member that is not a numeric array.

    It is kept rather than refused, so that a file is refused only when a
    loader asks for that variable (`loaders._pick` raises then, naming it):
    a MATLAB file may hold, say, a cell array of class names beside the
    features.

    Args:
        description: What the member is, e.g. `"a MATLAB cell"`.
    """

    def __init__(self, description):
        self.description = description

    def __repr__(self):
        return f"UnreadableVariable({self.description!r})"


def read_hdf5_arrays(path, *, matlab=False):
    """Read every array at the root of an HDF5 file.

    Args:
        path: `pathlib.Path` of the file.
        matlab: Whether the file is a MATLAB v7.3 `.mat` file. MATLAB stores
            arrays column-major, so a MATLAB `(n, d)` matrix is stored as
            `(d, n)` and is transposed back; sparse matrices (groups of
            `data`, `ir` and `jc`) are made dense; MATLAB's own bookkeeping
            groups (`#refs#`, `#subsystem#`) are skipped. Defaults to False.

    Returns:
        Dict from variable name to numpy array, in the layout the writer
        meant (`(n, d)` for a matrix of `n` rows), or to an
        `UnreadableVariable` for a member that is not a numeric array (a
        group, a MATLAB cell array or struct).

    Raises:
        InvalidInputError: If the file is not HDF5, is truncated or corrupt;
            the message names the file.

    Example:
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "toy.h5"
    >>> with h5py.File(path, "w") as file:
    ...     file["features"] = np.ones((3, 2))
    >>> read_hdf5_arrays(path)["features"].shape
    (3, 2)
    """
    try:
        with h5py.File(path, "r") as file:
            return {
                name: _read_node(node, matlab)
                for name, node in file.items()
                if not (matlab and name.startswith("#"))
            }
    except (OSError, RuntimeError, KeyError) as error:
        # h5py says e.g. "truncated file: eof = 100, ... stored_eof = 4096".
        detail = " ".join(str(error).split())
        raise InvalidInputError(
            f"Could not read {path}: not a readable HDF5 file; it may be "
            f"truncated or corrupt ({detail})."
        ) from error


def _read_node(node, matlab):
    """Return the numeric array stored at `node`, or an `UnreadableVariable`."""
    if matlab and isinstance(node, h5py.Group) and "MATLAB_sparse" in node.attrs:
        return _matlab_sparse(node)
    if not isinstance(node, h5py.Dataset) or node.dtype.kind not in "biuf":
        return UnreadableVariable(_describe(node))
    if matlab and node.attrs.get("MATLAB_empty", 0):
        # An empty MATLAB array stores its dimensions as its data; read as
        # data, they would pass for a 2-element vector.
        return np.zeros((0, 0))
    array = node[()]
    return array.T if matlab else array


def _matlab_sparse(group):
    """Return the dense array of a MATLAB v7.3 sparse matrix (CSC parts)."""
    column_starts = group["jc"][()]
    num_stored = int(column_starts[-1])
    # An all-zero matrix is saved without `data` and `ir`.
    values = group["data"][()] if num_stored else np.zeros(0)
    rows = group["ir"][()] if num_stored else np.zeros(0, np.int64)
    shape = (int(group.attrs["MATLAB_sparse"]), column_starts.size - 1)
    return scipy.sparse.csc_matrix((values, rows, column_starts), shape=shape).toarray()


def _describe(node):
    """Say what an HDF5 node is, in MATLAB's words when it has them."""
    matlab_class = node.attrs.get("MATLAB_class")
    if matlab_class is not None:
        if isinstance(matlab_class, bytes):
            matlab_class = matlab_class.decode(errors="replace")
        return f"a MATLAB {matlab_class}"
    if isinstance(node, h5py.Group):
        return "an HDF5 group"
    return f"an array of dtype {node.dtype}"
