"""Dose arithmetic for medicine sessions: pure, Decimal, with hard stops and soft limits."""

from openkap.core.dosing.calc import calculate_dose
from openkap.core.dosing.order import (
    PRESCRIBER_ROLE,
    WEIGHT_CHANGE_WARN_FRACTION,
    WEIGHT_MAX_KG,
    WEIGHT_MIN_KG,
    order_dose,
)
from openkap.core.dosing.prepare import lot_stops, prepare_dose
from openkap.core.dosing.results import (
    DoseCalculation,
    DoseOrder,
    DoseRefusal,
    Height,
    Infusion,
    Lot,
    Notice,
    NoticeCode,
    Override,
    SoftLimit,
    SoftLimitCode,
    Stop,
    StopCode,
    Weight,
)

__all__ = [
    "PRESCRIBER_ROLE",
    "WEIGHT_CHANGE_WARN_FRACTION",
    "WEIGHT_MAX_KG",
    "WEIGHT_MIN_KG",
    "DoseCalculation",
    "DoseOrder",
    "DoseRefusal",
    "Height",
    "Infusion",
    "Lot",
    "Notice",
    "NoticeCode",
    "Override",
    "SoftLimit",
    "SoftLimitCode",
    "Stop",
    "StopCode",
    "Weight",
    "calculate_dose",
    "lot_stops",
    "order_dose",
    "prepare_dose",
]
