"""Run UBL documents through the offline Peppol validator kit (../shared/validators).

The kit checks the three layers the Peppol network checks: UBL 2.1 XML Schema,
EN 16931 business rules and Peppol BIS Billing 3.0 (with the Danish rules).
Loading its rules takes about half a second, so one validator serves the run.
"""

from __future__ import annotations

import importlib.util
import os
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Beside the checkout (../shared/validators), or the workplace's copy when the
# suite runs from a clone elsewhere; PEPPOL_VALIDATORS overrides both.
_CANDIDATES = [ROOT.parent / "shared" / "validators", Path("/work/shared/validators")]
VALIDATORS = Path(
    os.environ.get("PEPPOL_VALIDATORS")
    or next((c for c in _CANDIDATES if (c / "validate.py").is_file()), _CANDIDATES[0])
)


@cache
def _kit():
    script = VALIDATORS / "validate.py"
    if not script.is_file():
        raise RuntimeError(
            f"The Peppol validator kit is missing: {script} (set PEPPOL_VALIDATORS to its folder)"
        )
    spec = importlib.util.spec_from_file_location("peppol_validate", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    validator = module.Validator()
    validator.preload()
    return module, validator


def peppol_findings(xml: bytes, name: str) -> dict:
    """The kit's report for one document: result, layers and messages."""
    _, validator = _kit()
    return validator.validate_bytes(xml, name)


def assert_valid_peppol(xml: bytes, name: str) -> dict:
    """Fail with every finding printed unless all three layers pass without a fatal message."""
    module, _ = _kit()
    report = peppol_findings(xml, name)
    fatal = [m for m in report["messages"] if m["severity"] == "fatal"]
    layers = report["layers"]
    if report["result"] != "PASS" or fatal or set(layers.values()) != {"passed"}:
        raise AssertionError(
            f"{name} is not valid Peppol BIS Billing 3.0 (layers {layers}):\n"
            + module.format_text(report)
        )
    return report
