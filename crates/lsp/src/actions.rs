//! Quick fixes, from the `data` each published diagnostic carries (see `diagnostics`):
//! apply a did-you-mean suggestion, remove a field a lint finds inert.

use lsp_types::{
    CodeAction, CodeActionKind, CodeActionOrCommand, Diagnostic, Range, TextEdit, Url,
    WorkspaceEdit,
};
use std::collections::HashMap;

pub fn actions(uri: &Url, diagnostics: &[Diagnostic]) -> Vec<CodeActionOrCommand> {
    let mut out = Vec::new();
    for d in diagnostics {
        let Some(data) = &d.data else { continue };
        let Some(title) = data.get("title").and_then(|t| t.as_str()) else {
            continue;
        };
        let edit = if let Some(text) = data.get("newText").and_then(|t| t.as_str()) {
            TextEdit::new(d.range, text.to_string())
        } else if let Some(range) = data
            .get("remove")
            .and_then(|r| serde_json::from_value::<Range>(r.clone()).ok())
        {
            TextEdit::new(range, String::new())
        } else {
            continue;
        };
        let changes = HashMap::from([(uri.clone(), vec![edit])]);
        out.push(CodeActionOrCommand::CodeAction(CodeAction {
            title: title.to_string(),
            kind: Some(CodeActionKind::QUICKFIX),
            diagnostics: Some(vec![d.clone()]),
            edit: Some(WorkspaceEdit {
                changes: Some(changes),
                ..WorkspaceEdit::default()
            }),
            is_preferred: Some(true),
            ..CodeAction::default()
        }));
    }
    out
}
