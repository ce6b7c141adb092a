"""Label maps: relabel a data dir's ``utt2emo`` (e.g. EMO-DB names -> SAVEE names)."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Mapping, Optional

from serkit.data.datadir import DataDir, read_kv
from serkit.errors import DataDirError


def read_label_map(path: str | Path) -> Dict[str, Optional[str]]:
    """``source target`` lines; target ``-`` drops the source label."""
    m = read_kv(path)
    return {k: (None if v == "-" else v) for k, v in m.items()}


def map_labels(data: DataDir, label_map: Mapping[str, Optional[str]], out_dir: str | Path,
               source: str = "") -> DataDir:
    """Relabel ``utt2emo`` through ``label_map``; utterances mapped to None are dropped.

    A label missing from the map is an error naming it, so nothing is dropped by accident.
    """
    emo = data.get("utt2emo")
    unknown = sorted(set(emo.values()) - set(label_map))
    if unknown:
        raise DataDirError(f"{source or 'label map'}: no entry for label(s) {unknown} of {data.path}")
    keep = [u for u, e in emo.items() if label_map[e] is not None]
    out = data.subset(keep, out_dir)
    out.fields["utt2emo"] = {u: label_map[emo[u]] for u in keep}
    if out.emotions is not None:   # the declared set, relabelled
        out.emotions = list(dict.fromkeys(label_map[e] for e in out.emotions
                                          if label_map.get(e) is not None))
    out.write()
    return out
