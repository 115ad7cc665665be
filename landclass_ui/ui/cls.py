"""CLS panel: the classifier and its parameters (short form, and the rest under "More")."""
from __future__ import annotations

import ipywidgets as W

from ..classifiers import CLASSIFIERS, get_spec, parse_params
from ..store import RecipeStore
from .common import Message, guarded

__all__ = ["ClassifierPanel"]


class ClassifierPanel:
    """Edits ``recipe.classifier``. Values are validated with the registry's ranges before they are stored."""

    def __init__(self, store: RecipeStore):
        self.store = store
        self.kind = W.Dropdown(options=[(s.label, s.name) for s in CLASSIFIERS.values()], description="Classifier")
        self.kind.observe(lambda ch: guarded(self.message, self._set_kind, ch["new"]), "value")
        self.short = W.VBox()
        self.more = W.VBox()
        self.more_box = W.Accordion(children=[self.more], titles=("More",))
        self.message = Message()
        self.widget = W.VBox([self.kind, self.short, self.more_box, self.message])
        self.widget.add_class("landclass-cls")
        self._fields: dict[str, W.Widget] = {}
        store.observe(lambda label: self.refresh())
        self.refresh()

    def refresh(self) -> None:
        ref = self.store.recipe.classifier
        spec = get_spec(ref.name)
        if self.kind.value != spec.name:
            self.kind.value = spec.name
        values = parse_params(spec.name, ref.params)
        if set(self._fields) != {p.name for p in spec.params}:
            self._build(spec)
        for name, widget in self._fields.items():
            shown = "none" if values[name] is None else values[name]
            if isinstance(widget, W.Text):
                shown = str(shown)
            if widget.value != shown:
                widget.value = shown

    def _build(self, spec) -> None:
        self._fields = {}
        short, more = [], []
        for p in spec.params:
            if p.kind is int and not p.none_ok:
                widget = W.BoundedIntText(min=int(p.minimum if p.minimum is not None else -2**31),
                                          max=int(p.maximum if p.maximum is not None else 2**31 - 1))
            else:
                widget = W.Text(continuous_update=False)
            widget.description = p.name.replace("_", " ")
            widget.tooltip = f"{p.help} (default {p.default})"
            widget.style = {"description_width": "150px"}
            widget.layout = W.Layout(width="300px")
            widget.add_class(f"landclass-param-{p.name}")
            widget.observe(lambda ch, name=p.name: guarded(self.message, self._set_param, name, ch["new"]), "value")
            self._fields[p.name] = widget
            (short if p.name in spec.short else more).append(W.VBox([widget, W.HTML(f"<small>{p.help}; "
                                                                                      f"default {p.default}</small>")]))
        self.short.children = short
        self.more.children = more

    def _set_kind(self, name: str) -> None:
        if name != self.store.recipe.classifier.name:
            self.store.edit("classifier", lambda r: setattr(r.classifier, "name", name) or r.classifier.params.clear())

    def _set_param(self, name: str, value) -> None:
        ref = self.store.recipe.classifier
        params = dict(ref.params)
        spec = get_spec(ref.name)
        default = spec.defaults()[name]
        params[name] = value
        parsed = parse_params(ref.name, params)  # ClassifierError with the valid range
        self.message.clear()
        if parsed[name] == default:
            params.pop(name)
        else:
            params[name] = parsed[name]
        if params != ref.params:
            self.store.edit(f"set {name}", lambda r: setattr(r.classifier, "params", params))
