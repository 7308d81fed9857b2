"""The message bus: one publisher/consumer interface, a Kafka and an in-process implementation."""

from shared.bus.base import BatchHandler, Bus, Message, MessageHandler, deliver
from shared.bus.inprocess import InProcessBus
from shared.bus.kafka import KafkaBus

__all__ = [
    "BatchHandler",
    "Bus",
    "InProcessBus",
    "KafkaBus",
    "Message",
    "MessageHandler",
    "deliver",
]
