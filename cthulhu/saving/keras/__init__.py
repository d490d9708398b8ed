"""Keras model and weight files of every generation, read as data (no TensorFlow, no Keras).

Nothing from a file is imported, unpickled, unmarshalled or called: files are parsed with
``json``, ``zipfile`` and h5py (optional: ``pip install "cthulhu-layers[keras]"``).
Translation into cthulhu layers happens elsewhere, from the neutral structure below.

Entry points
------------
``sniff(path)``
    The file's kind from its bytes: ``'cthulhu'``, ``'keras_zip'``, ``'keras_dir'``,
    ``'hdf5'``, ``'json'``, ``'npz'``, ``'zip'``, ``'savedmodel'``, ... (see its docstring).
``read_keras(path, *, original_backend=None, limits=DEFAULT_LIMITS, isolate=True, timeout=None) -> KerasFile``
    Any Keras file, by content: Keras 3 ``.keras`` (zip or unzipped folder; tf-keras
    2.13-2.15 write the same layout), legacy HDF5 models of Keras 1, 2 (tf.keras, tf-keras)
    and 3, weight-only HDF5 in the legacy (``layer_names``) and Keras 3 (``layers/.../vars``)
    layouts, sharded Keras 3 weights (their ``.weights.json`` index), JSON configs.
    ``original_backend='theano'`` declares what trained a file that does not say (Keras 1).
    With ``isolate=True`` the file is parsed in a child process under a wall-clock
    ``timeout``: libhdf5 loops forever on some damaged files and may crash on others.
``read_keras_json(text) -> KerasFile``
    A ``model.to_json()`` text of any generation (no weights).
``convert_weights(class_name, config, arrays, keras_version, backend)``
    Keras 2 layout of one layer's stored arrays (Keras 1 transposes and LSTM/GRU gate
    concatenation, the Theano kernel flip); for weight-only files, whose readers cannot know
    the layers (``KerasFile.weights_converted`` is False for them).
``translate_keras1_layer(class_name, config) -> (class_name, config, notes)``
    One Keras 1 layer in Keras 2 words (``Convolution2D(nb_filter, nb_row, nb_col,
    border_mode, subsample, dim_ordering='th')`` -> ``Conv2D(filters, kernel_size, padding,
    strides, data_format='channels_first')``, ``AtrousConvolution2D`` -> ``Conv2D`` with
    ``dilation_rate``, ``Deconvolution2D`` -> ``Conv2DTranspose``, ``Merge`` -> ``Add``/
    ``Concatenate``/..., ``output_dim`` -> ``units``, ``init`` -> ``kernel_initializer``, ...).
``with_model_config(kfile, model_config) -> KerasFile``
    A weight-only file's weights keyed by leaf layer paths through a model config (e.g. the
    target model's): Keras 3-layout files that do not name their layers (tf-keras
    ``.weights.h5``, ``keyed_by == 'object_path'``) are re-keyed, and the one group a
    legacy file keeps per nested model is split among the nested model's layers.

The neutral structure: ``KerasFile``
------------------------------------
``source``
    The path read (``'<json text>'`` for text).
``format``
    ``'keras_zip'``, ``'keras_dir'``, ``'hdf5_model'`` (legacy full model),
    ``'hdf5_weights'`` (legacy ``layer_names`` weights), ``'hdf5_object_weights'``
    (Keras 3-layout ``.weights.h5``), ``'sharded_weights'`` or ``'json_config'``.
``generation``
    Who wrote it: ``'keras1'``, ``'keras2'`` (Keras 2.x, tf.keras, tf-keras, including
    tf-keras's ``.keras`` zip), ``'keras3'``; ``'unknown'`` for an unnamed object-path
    weights file. From the stored ``keras_version`` (absent means Keras 1, as Keras 2
    assumed); for unversioned JSON, from Keras 1 or Keras 3 words.
``keras_version``, ``backend``
    As stored (``None`` where the file does not say; Keras 1 never stored its backend).
``model_config``
    ``None`` for weight-only files, else the model as ``{"class_name", "config"}`` in one
    Keras-2-like form, whatever wrote it:

    - a container is ``Sequential``, ``Functional`` or ``Model`` with ``config["layers"]``,
      a list of ``{"class_name", "config"}`` (plus ``module``/``registered_name``/
      ``build_config`` where the file had them, as plain data, never imported);
    - a ``Sequential`` starts with an explicit ``InputLayer`` whenever the file gives its
      input shape (Keras 1's first-layer ``batch_input_shape``/``input_dim`` moves into an
      ``InputLayer`` named ``<first layer>_input``);
    - functional layers carry ``"name"`` and ``"inbound_nodes"``: a list of nodes, each a
      list of ``[layer_name, node_index, tensor_index, kwargs]`` (Keras 3's
      ``{"args", "kwargs"}`` nodes flattened to that; tensors inside kwargs become
      ``[layer, node, tensor]`` lists; non-tensor positional arguments go to
      ``kwargs["_positional_args"]``); ``input_layers``/``output_layers`` are lists of
      ``[layer_name, node_index, tensor_index]``;
    - ``InputLayer`` configs say ``batch_input_shape`` (Keras 3's ``batch_shape``) and
      ``dtype`` (Keras 1's ``input_dtype``);
    - dtype policies (Keras 3 ``DTypePolicy``, tf-keras ``Policy``) become their name
      string (``'float32'``, ``'mixed_float16'``, ...); ``shared_object_id`` is dropped;
    - Keras 1 layers are already in Keras 2 words (``translate_keras1_layer``); arguments
      Keras 2 dropped too sit under ``config["keras1_dropped"]``;
    - everything else (initializers, regularizers, constraints as Keras serialized them,
      activations, Lambda bytecode strings) is kept as inert data. Training and compile
      configs are not read.
``weights``
    ``{layer path: [arrays]}``: a path is a tuple of names, the nested models' names then
    the layer's (``('inner', 'inner_bn')``); every layer that owns weights has one entry,
    nested models none of their own. The arrays are in the layer's Keras ``get_weights()``
    order and, when ``weights_converted``, in Keras 2 layouts (Keras 1 files converted). A
    layer whose weights live on a sub-object (Keras 3 ``LSTM`` -> ``cell``) lists its own
    variables first, then its sub-objects' in name order. bfloat16 arrays come back as
    float32 holding the same values.
``weight_names``
    Same keys: the names as stored (``:0`` removed; ``vars/0``, ``cell/vars/1`` for the
    Keras 3 layout; ``kernel``, ``recurrent_kernel``, ``bias`` where Keras 1 gate arrays
    were fused into Keras 2's).
``layer_order``
    The keys in the file's order: the topological order Keras 2 loads weights by.
``keyed_by``
    ``'layer_name'``, or ``'object_path'`` for an unnamed Keras 3-layout weights file
    (``with_model_config`` fixes that with a model config).
``weights_converted``
    False only for weight-only Keras 1 files and Theano-trained weight-only files: their
    arrays are as stored, for ``convert_weights`` with each target layer.
``code``
    ``CodeRecord`` per piece of stored code: a ``Lambda`` (Keras 3 ``__lambda__``
    bytecode, Keras 1/2 ``function_type='lambda'``) or a function named by module (Keras 2
    ``function_type='function'``, Keras 3 ``{"class_name": "function"}`` outside Keras), a
    Keras 1 ``Merge`` with a function as mode. Translation refuses them in safe mode.
``custom``
    ``CustomRecord`` per class from outside Keras the file names (``registered_name``
    ``'package>Name'`` or a ``module`` outside Keras/TensorFlow), layers and nested objects.
``notes``
    Human-readable lines: conversions applied, arguments dropped, things ignored.

Safety (the rules of the safe loader, for Keras files)
-----------------------------------------------------
Every read is bounded before it happens (``Limits``): config size and JSON depth, zip
entry sizes and compression ratios, each HDF5 dataset's declared shape, dtype, storage and
filters (no filter plugin is ever loaded), attribute types and lengths, object counts.
HDF5 soft and external links, virtual datasets, external storage and non-numeric dtypes
are refused; so are Keras 3's pickled ``.npz`` weights. Every corrupt or hostile file
raises ``KerasFileError`` (a ``ValueError``) with one line naming the file; by default the
parsing runs in a child process (``_isolated``), so that a file that makes libhdf5 loop or
crash is refused too, and only JSON and plain ``.npz`` arrays come back from it.
"""

from __future__ import annotations

from cthulhu.saving.keras._config import Findings
from cthulhu.saving.keras._keras1 import convert_weights
from cthulhu.saving.keras._keras1 import translate_layer as _translate_layer
from cthulhu.saving.keras._limits import DEFAULT_LIMITS, KerasFileError, Limits
from cthulhu.saving.keras._reader import read_keras, read_keras_json
from cthulhu.saving.keras._sniff import sniff
from cthulhu.saving.keras._types import CodeRecord, CustomRecord, KerasFile

__all__ = ["KerasFile", "CodeRecord", "CustomRecord", "KerasFileError", "Limits",
           "DEFAULT_LIMITS", "sniff", "read_keras", "read_keras_json", "convert_weights",
           "translate_keras1_layer", "with_model_config"]


def translate_keras1_layer(class_name, config):
    """One Keras 1 layer in Keras 2 words: ``(class_name, config, notes)``.

    Examples
    --------
    >>> from cthulhu.saving.keras import translate_keras1_layer
    >>> name, config, notes = translate_keras1_layer("Convolution2D", {
    ...     "name": "c", "nb_filter": 8, "nb_row": 3, "nb_col": 3, "border_mode": "same",
    ...     "subsample": [2, 2], "dim_ordering": "th", "bias": False})
    >>> name, config["filters"], config["kernel_size"], config["padding"]
    ('Conv2D', 8, [3, 3], 'same')
    >>> config["strides"], config["data_format"], config["use_bias"]
    ([2, 2], 'channels_first', False)
    """
    findings = Findings()
    name = config.get("name", "layer") if isinstance(config, dict) else "layer"
    new_class, new_config = _translate_layer(class_name, config, "keras 1 config", findings,
                                             (str(name),))
    return new_class, new_config, list(findings.notes)


def with_model_config(kfile, model_config):
    """``kfile``'s weights keyed by leaf layer paths of ``model_config`` (a normalised
    config, e.g. another ``KerasFile.model_config``): object paths renamed, nested models'
    groups split among their layers. ``model_config`` itself is not attached."""
    import dataclasses

    from cthulhu.saving.keras._weights import rename_object_paths, split_nested

    order, weights, names = list(kfile.layer_order), kfile.weights, kfile.weight_names
    if kfile.keyed_by == "object_path":
        order, weights, names = rename_object_paths(order, weights, names, model_config,
                                                    kfile.source)
    elif kfile.format == "hdf5_weights":
        order, weights, names = split_nested(order, weights, names, model_config,
                                             kfile.source)
    return dataclasses.replace(kfile, layer_order=tuple(order), weights=weights,
                               weight_names=names, keyed_by="layer_name")
