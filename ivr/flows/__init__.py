"""The IVR as data: flow definitions in this folder, run by `ivr.flows.engine`."""

from ivr.flows.definition import Flow, FlowError, default_flow_path, flow_path, load_flow
from ivr.flows.validate import validate_flow

__all__ = ["Flow", "FlowError", "default_flow_path", "flow_path", "load_flow", "validate_flow"]
