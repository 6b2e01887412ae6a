"""The next-edit prediction in the shapes other LSP features answer with: the
inline-completion item (a same-line insertion at the cursor) and the code action's
WorkspaceChange, with the method and command names every Qwill feature shares."""

from __future__ import annotations

from lsprotocol import types

from ...actions.edits import FileChange, WorkspaceChange
from ...actions.edits import TextEdit as ChangeEdit
from ...context.document import TextDocument
from ...nextedit.service import Prediction
from .. import convert

NEXT_EDIT = "qwill/nextEdit"
NEXT_EDIT_SHOWN = "qwill/nextEdit/shown"
NEXT_EDIT_ACCEPTED = "qwill/nextEdit/accepted"
NEXT_EDIT_REJECTED = "qwill/nextEdit/rejected"
CODE_ACTION_KIND = "refactor.rewrite.qwill.nextEdit"
# run by the client after it applied the code action's edit: counts as accepted
ACCEPTED_COMMAND = "qwill.nextEdit.accepted"
# for clients that take commands, not code actions: applies the prediction by workspace/applyEdit
APPLY_COMMAND = "qwill.nextEdit.apply"
# a plain client's "Predict the next edit": the code action's data key, and the command
# for clients without codeAction/resolve (it runs the model, then workspace/applyEdit)
PREDICT_DATA = "qwillNextEdit"
PREDICT_COMMAND = "qwill.nextEdit.predict"
# attached to inline-completion items: run by the client when the user accepts one
INLINE_ACCEPTED_COMMAND = "qwill.inlineCompletion.accepted"


def workspace_change(doc: TextDocument, pred: Prediction) -> WorkspaceChange:
    """The prediction as a WorkspaceChange (one undoable step, versioned)."""
    line = doc.position_at(pred.jump).line + 1
    edits = tuple(ChangeEdit(e.start, e.end, e.text, doc.text[e.start:e.end]) for e in pred.edits)
    return WorkspaceChange(f"Qwill: Apply predicted edit (line {line})",
                           (FileChange(doc.uri, doc.text, edits, doc.version),))


def inline_item(doc: TextDocument, pred: Prediction, offset: int) -> types.InlineCompletionItem | None:
    """The prediction as ghost text when it is one insertion at the cursor, on its line."""
    if len(pred.edits) != 1:
        return None
    e = pred.edits[0]
    if e.start != offset or e.end != offset or not e.text or "\n" in e.text:
        return None
    return types.InlineCompletionItem(insert_text=e.text, range=convert.lsp_range(doc, offset, offset))
