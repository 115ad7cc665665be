"""CLS panel: the classifier and its parameters (short form, and the rest under "More"), and the bands'
importance for the tree methods (:meth:`ClassifierPanel.show_importance`)."""
from __future__ import annotations

import html

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
        self.about = W.HTML()
        self.about.add_class("landclass-cls-about")
        self.importance = W.HTML()
        self.importance.add_class("landclass-importance")
        self.message = Message()
        self.widget = W.VBox([self.kind, self.about, self.short, self.more_box, self.message, self.importance])
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
            if isinstance(widget, W.Textarea):
                shown = "" if values[name] is None else str(values[name])
            elif isinstance(widget, (W.Text, W.Dropdown)):
                shown = str(shown)
            if widget.value != shown:
                widget.value = shown

    def _build(self, spec) -> None:
        self._fields = {}
        self.about.value = f"<small>{html.escape(spec.doc)}</small>" if spec.doc else ""
        short, more = [], []
        for p in spec.params:
            if p.kind is int and not p.none_ok:
                widget = W.BoundedIntText(min=int(p.minimum if p.minimum is not None else -2**31),
                                          max=int(p.maximum if p.maximum is not None else 2**31 - 1))
            elif p.kind is str and p.choices:
                widget = W.Dropdown(options=list(p.choices))
            elif p.kind is str:  # free text, e.g. a pasted decision tree: several lines
                widget = W.Textarea(continuous_update=False, rows=8, placeholder=p.help)
            else:
                widget = W.Text(continuous_update=False)
            widget.description = p.name.replace("_", " ")
            widget.tooltip = f"{p.help} (default {p.default})"
            widget.style = {"description_width": "150px"}
            widget.layout = W.Layout(width="520px" if isinstance(widget, W.Textarea) else "300px")
            widget.add_class(f"landclass-param-{p.name}")
            widget.observe(lambda ch, name=p.name: guarded(self.message, self._set_param, name, ch["new"]), "value")
            self._fields[p.name] = widget
            (short if p.name in spec.short else more).append(W.VBox([widget, W.HTML(
                f"<small>{html.escape(p.help)}; default {html.escape(str(p.default))}{_range(p)}</small>")]))
        self.short.children = short
        self.more.children = more

    def show_importance(self, importance) -> None:
        """Show the bands' importance (a :class:`pandas.Series` from
        :func:`landclass_ui.classifiers.feature_importance`, summing to 1) as a small bar list, largest first;
        ``None`` (a classifier without importance, or no model yet) hides it."""
        if importance is None or len(importance) == 0:
            self.importance.value = ""
            return
        rows = []
        top = float(importance.max()) or 1.0
        for band, value in importance.sort_values(ascending=False).items():
            width = max(1, round(120 * float(value) / top))
            rows.append(
                f'<div class="landclass-importance-row" style="display:flex;align-items:center;gap:6px">'
                f'<span style="width:90px;overflow:hidden">{html.escape(str(band))}</span>'
                f'<span style="display:inline-block;height:10px;width:{width}px;background:#4a7f3a"></span>'
                f'<span>{100 * float(value):.0f}%</span></div>')
        self.importance.value = ('<div><b>Band importance</b> <small>(impurity decrease, sums to 100%)</small>'
                                 + "".join(rows) + "</div>")

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


def _range(p) -> str:
    """``; range [lo, hi]`` or ``; one of a, b`` for a parameter's help line."""
    if p.choices:
        return "; one of " + ", ".join(html.escape(c) for c in p.choices)
    if p.minimum is None and p.maximum is None:
        return ""
    lo = "" if p.minimum is None else f"{p.minimum:g}"
    hi = "" if p.maximum is None else f"{p.maximum:g}"
    return f"; range [{lo}, {hi}]" + ("; none allowed" if p.none_ok else "")
