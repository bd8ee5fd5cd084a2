"""zoo: the networks documented in the course seeds, reproduced exactly, each
with a card of what its documentation claims (`zoo.card("MnistNet_2")`).
"""
from zoo.registry import Card, card, card_of, create, entry, names
from zoo.s5 import S5Net, S5NetBias
from zoo.s6 import S6Net
from zoo.s7 import MnistNet_1, MnistNet_2, MnistNet_3
from zoo.s9 import UltimusBlock, UltimusNet

__all__ = [
    "Card", "card", "card_of", "create", "entry", "names",
    "S5Net", "S5NetBias", "MnistNet_1", "MnistNet_2", "MnistNet_3", "S6Net", "UltimusNet", "UltimusBlock",
]
