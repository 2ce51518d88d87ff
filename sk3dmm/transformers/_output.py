"""``set_output`` for transformers whose input is not a table (photos, image sets).

scikit-learn wraps ``transform``'s output automatically only when every output is a table
with ``get_feature_names_out`` columns; set input gives one :class:`ImageSet` per set instead,
so these transformers opt out of the automatic wrapping and wrap their tables here.
"""

from __future__ import annotations

from sklearn.utils._set_output import ADAPTERS_MANAGER, _get_output_config


def wrap_output(estimator, data, X_original):
    """``data`` as the container ``set_output`` (or ``sklearn.set_config``) asks for."""
    container = _get_output_config("transform", estimator)["dense"]
    if container == "default":
        return data
    adapter = ADAPTERS_MANAGER.adapters[container]
    return adapter.create_container(data, X_original, estimator.get_feature_names_out, inplace=False)
