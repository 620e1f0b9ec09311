"""Reframing: where to put the crop in each frame of a clip (camera planning and its inputs)."""

from streamapp.reframe.path import CameraPlan, PlanParams, Sample, ShotPlan, centered_plan, plan_camera

__all__ = ["CameraPlan", "PlanParams", "Sample", "ShotPlan", "centered_plan", "plan_camera"]
