"""The Python programs the converter adapter runs in llama.cpp's converter environment (`python -c PROGRAM ARGS`, in the
converter's folder with its gguf-py first on the path, possibly in the process started ahead).

- CONVERT `SCRIPT MODEL_DIR CONFIG_DIR NO_MTP KEYS ARGS`: runs the converter script on MODEL_DIR as `python SCRIPT
  MODEL_DIR ARGS` would, with the converter class of CONFIG_DIR's model (MODEL_DIR's own; a LoRA's base) told to
  leave MTP layers out when NO_MTP is 1 and it exports them (the model has none: the caller checked), as `--no-mtp`
  does, which the LoRA converter does not take; a model the converter does not know runs as given, to fail as
  usual), and writing the
  KEYS (a JSON object of booleans and strings) into every GGUF header it writes, over whatever the converter put there: gguf-py's
  `GGUFWriter.write_header_to_file` counts the key/value pairs, so they are set just before it.
- SPLIT `GGUF MAX_BYTES`: rewrites a GGUF as llama.cpp shards of at most MAX_BYTES each and prints their paths.
"""

from __future__ import annotations

import json

from hubship.domain.gguf_tokenizer import TokenizerSettings

CONVERT = r"""
import json, runpy, sys
from pathlib import Path
script, model_dir, config_dir, no_mtp, keys, *args = sys.argv[1:]
if no_mtp == "1":
    try:
        from conversion import ModelBase, ModelType, get_model_architecture, get_model_class
        model_class = get_model_class(get_model_architecture(ModelBase.load_hparams(Path(config_dir), False), ModelType.TEXT))
        if model_class.supports_mtp_export:
            model_class.no_mtp = True  # what --no-mtp sets
    except Exception:
        pass
keys = json.loads(keys)
if keys:
    import gguf
    write_header = gguf.GGUFWriter.write_header_to_file
    def write_header_with_keys(self, *a, **k):
        for kv_data in self.kv_data[:1]:
            for key, value in keys.items():
                kind = gguf.GGUFValueType.STRING if isinstance(value, str) else gguf.GGUFValueType.BOOL
                kv_data[key] = gguf.GGUFValue(value=value, type=kind)
        return write_header(self, *a, **k)
    gguf.GGUFWriter.write_header_to_file = write_header_with_keys
sys.argv = [script, model_dir, *args]
runpy.run_path(script, run_name="__main__")
"""


def overrides(settings: TokenizerSettings) -> str:
    """CONVERT's KEYS argument for `settings` (sorted, so that it can key a cache)."""
    return json.dumps(settings.keys(), sort_keys=True)


SPLIT = r"""
import json, sys
from pathlib import Path
import gguf

src, max_bytes = Path(sys.argv[1]), int(sys.argv[2])
reader = gguf.GGUFReader(src)
arch = reader.fields[gguf.Keys.General.ARCHITECTURE].contents()
writer = gguf.GGUFWriter(src, arch, split_max_size=max_bytes)
for field in reader.fields.values():
    if field.name in (gguf.Keys.General.ARCHITECTURE, gguf.Keys.General.ALIGNMENT) or field.name.startswith(("GGUF.", "split.")):
        continue
    kind = field.types[0]
    writer.add_key_value(field.name, field.contents(), kind, sub_type=field.types[-1] if kind == gguf.GGUFValueType.ARRAY else None)
for tensor in reader.tensors:
    writer.add_tensor(tensor.name, tensor.data, raw_dtype=tensor.tensor_type)
shards = writer.format_shard_names(src)
writer.write_header_to_file()
writer.write_kv_data_to_file()
writer.write_tensors_to_file(progress=True)
writer.close()
print(json.dumps([str(s) for s in shards]))
"""
