// Starts `deitc lsp` for .deit files. Install: `npm install` in this folder, then
// `code --install-extension` of a package made with `npx @vscode/vsce package`, or open the
// folder in VS Code and press F5 (see docs/editors.md).
const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const config = vscode.workspace.getConfiguration("deit");
  const command = config.get("server.path") || "deitc";
  const docs = config.get("diagnosticsDocs");
  const server = { command, args: ["lsp", "--stdio"] };
  client = new LanguageClient(
    "deit",
    "deitc lsp",
    { run: server, debug: server },
    {
      documentSelector: [{ scheme: "file", language: "deit" }],
      initializationOptions: docs ? { diagnosticsDocs: docs } : {},
    }
  );
  context.subscriptions.push(client);
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
