"""What a config holds that cthulhu will not run: stored code and classes from outside Keras.

Both are recorded as data (``CodeRecord``, ``CustomRecord``); nothing is decoded or imported.
"""

from __future__ import annotations

import re

from cthulhu.saving.keras._types import CodeRecord, CustomRecord

_KERAS_PREFIX = re.compile(r"^(keras|tf_keras|tensorflow)(\.|$)")


def is_custom(entry):
    registered = entry.get("registered_name")
    module = entry.get("module")
    class_name = entry.get("class_name")
    if isinstance(class_name, str) and ">" in class_name:
        return True
    if isinstance(registered, str) and (">" in registered or registered != class_name) \
            and registered not in ("function",):
        return True
    return isinstance(module, str) and not _KERAS_PREFIX.match(module)


def scan_custom(entry, class_name, path, findings):
    if is_custom({**entry, "class_name": class_name}):
        findings.custom.append(CustomRecord(path, class_name, entry.get("module"),
                                            entry.get("registered_name"), "layer"))
    config = entry.get("config")
    if not isinstance(config, dict):
        return
    for key, value in config.items():
        if key == "layers":
            continue
        for item in _dicts(value):
            if "class_name" in item and is_custom(item) and item.get("class_name") not in (
                    "function", "__lambda__"):
                findings.custom.append(CustomRecord(path, str(item.get("class_name")),
                                                    item.get("module"),
                                                    item.get("registered_name"), key))


def _dicts(value):
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def scan_code(class_name, config, path, findings):
    """Record every piece of stored code in a layer's config (data only: never decoded)."""
    if class_name == "Lambda" and "function" not in config:
        findings.code.append(CodeRecord(path, class_name, "lambda", "function missing"))
    for key, value in config.items():
        for item in _dicts({key: value}):
            if item.get("class_name") == "__lambda__":
                findings.code.append(CodeRecord(path, class_name, "lambda",
                                                f"{key}: marshalled bytecode (Keras 3)"))
            elif item.get("class_name") == "function" and "config" in item:
                module = item.get("module")
                if class_name == "Lambda" or not (isinstance(module, str)
                                                  and _KERAS_PREFIX.match(module)):
                    findings.code.append(CodeRecord(path, class_name, "function",
                                                    f"{key}: {module}.{item.get('config')}"))
        if key.endswith("_type") or key == "function_type":
            base = key[: -len("_type")]
            if value == "lambda":
                findings.code.append(CodeRecord(path, class_name, "lambda",
                                                f"{base}: marshalled bytecode (Keras 1/2)"))
            elif value == "function":
                findings.code.append(CodeRecord(
                    path, class_name, "function",
                    f"{base}: {config.get('module') or config.get(base + '_module')}."
                    f"{config.get(base)}"))
    if class_name == "Lambda" and not any(r.path == path for r in findings.code):
        function = config.get("function")
        findings.code.append(CodeRecord(path, class_name, "function",
                                        f"function: {str(function)[:120]}"))
