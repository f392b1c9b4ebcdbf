"""Reads a runner results folder's TensorBoard files with TensorBoard's own reader (the
EventAccumulator, and the HParams plugin's parsers) and prints what it found as JSON:
{"runs": {run: {"scalars": {tag: [[step, value], ...]}, "hparams": {...}, "group": ...,
"status": ...}} (hparams and group null for a folder without a session,
such as a range test's), "experiment": {"hparams": {name: [values]}, "metrics": [tags]}}.
Used by tests/tensorboard.rs."""

import json
import math
import os
import sys

from google.protobuf import json_format
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import metadata

SIZE_GUIDANCE = {"scalars": 0, "tensors": 0}


def value(v):
    kind = v.WhichOneof("kind")
    return getattr(v, kind)


def load(path):
    acc = EventAccumulator(path, size_guidance=SIZE_GUIDANCE)
    acc.Reload()
    return acc


def main(logdir):
    out = {"runs": {}, "experiment": None}
    root = load(logdir)
    try:
        content = root.PluginTagToContent(metadata.PLUGIN_NAME)
    except KeyError:
        content = {}
    if metadata.EXPERIMENT_TAG in content:
        exp = metadata.parse_experiment_plugin_data(content[metadata.EXPERIMENT_TAG])
        out["experiment"] = {
            "hparams": {
                h.name: [value(v) for v in h.domain_discrete.values] for h in exp.hparam_infos
            },
            "metrics": [m.name.tag for m in exp.metric_infos],
        }
    for run in sorted(os.listdir(logdir)):
        path = os.path.join(logdir, run)
        if not os.path.isdir(path):
            continue
        acc = load(path)
        scalars = {
            tag: [[e.step, None if math.isnan(e.value) else e.value] for e in acc.Scalars(tag)]
            for tag in acc.Tags()["scalars"]
        }
        try:
            content = acc.PluginTagToContent(metadata.PLUGIN_NAME)
        except KeyError:
            content = {}
        start = None
        if metadata.SESSION_START_INFO_TAG in content:
            start = metadata.parse_session_start_info_plugin_data(
                content[metadata.SESSION_START_INFO_TAG]
            )
        end = None
        if metadata.SESSION_END_INFO_TAG in content:
            end = metadata.parse_session_end_info_plugin_data(content[metadata.SESSION_END_INFO_TAG])
        out["runs"][run] = {
            "scalars": scalars,
            "hparams": None if start is None else {k: value(v) for k, v in start.hparams.items()},
            "group": None if start is None else start.group_name,
            "status": None if end is None else end.status,
        }
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1])
