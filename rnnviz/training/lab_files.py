"""A lab model's download: a zip of model.safetensors and config.json (the LabConfig and the run's
final metrics; no pickle), and reading one back."""

from __future__ import annotations

import io
import json
import zipfile

from rnnviz.errors import RnnvizError
from rnnviz.training.lab_model import LabConfig, LabModel
from rnnviz.training.lab_run import LabResult

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


def export_zip(result: LabResult) -> bytes:
    """A zip of model.safetensors + config.json (the LabConfig and the run's final metrics; no pickle)."""
    from safetensors.torch import save

    weights = save(
        {k: v.detach().contiguous() for k, v in result.model.state_dict().items()},
        metadata={"format": "rnnviz-lab"},
    )
    last = result.progress.checkpoints[-1] if result.progress.checkpoints else None
    payload = {
        "format": "rnnviz-lab",
        "lab": result.config.to_dict(),
        "metrics": {
            "steps": result.progress.step,
            "seconds": round(result.progress.seconds, 2),
            "held_out_accuracy": last.accuracy if last else None,
            "held_out_loss": last.loss if last else None,
            "ended": result.progress.reason,
        },
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(WEIGHTS_FILE, weights)
        archive.writestr(CONFIG_FILE, json.dumps(payload, indent=1) + "\n")
    return buffer.getvalue()


def load_zip(data: bytes) -> tuple[LabConfig, LabModel]:
    """Read an `export_zip` archive back into its config and an eval-mode model."""
    from safetensors.torch import load

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            payload = json.loads(archive.read(CONFIG_FILE))
            tensors = load(archive.read(WEIGHTS_FILE))
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError) as error:
        raise RnnvizError(f"not a lab model archive: {error}") from None
    config = LabConfig.from_dict(payload["lab"])
    model = LabModel(config)
    model.load_state_dict(tensors)
    return config, model.eval()
