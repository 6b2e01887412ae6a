-- Qwill language server config for `vim.lsp.config` / `vim.lsp.enable` (Neovim 0.11+).
--
--   vim.lsp.enable('qwill')                      -- with this directory on 'runtimepath'
--   vim.lsp.config('qwill', { init_options = { engine = { model = 'default-1.5b' } } })
--
-- Settings go in `init_options`, nested like the keys of Qwill's settings table without the
-- `qwill.` prefix. require('qwill').setup() adds ghost-text keymaps and `:Qwill`.

--- Call `module.fn` if the plugin's Lua modules are on 'runtimepath' (they are, next to this file).
local function delegate(module, fn)
  return function(...)
    local ok, mod = pcall(require, module)
    if ok then
      return mod[fn](...)
    end
  end
end

local function command(name)
  return function(cmd, ctx)
    return require('qwill.actions').commands[name](cmd, ctx)
  end
end

---@type vim.lsp.Config
return {
  cmd = { 'qwill', 'serve' },
  filetypes = {
    'python', 'lua', 'javascript', 'javascriptreact', 'typescript', 'typescriptreact', 'go',
    'rust', 'java', 'kotlin', 'c', 'cpp', 'cs', 'ruby', 'php', 'sh', 'bash', 'zsh', 'swift',
    'scala', 'haskell', 'ocaml', 'elixir', 'zig', 'dart', 'r', 'julia', 'sql', 'html', 'css',
    'scss', 'vue', 'svelte', 'toml', 'yaml', 'json', 'markdown', 'make', 'cmake', 'dockerfile',
    'terraform', 'vim', 'perl',
  },
  root_markers = { '.git', 'pyproject.toml', 'package.json', 'go.mod', 'Cargo.toml' },
  init_options = {},
  capabilities = {
    -- Explanations come back in the command's result; we show them in a float.
    experimental = { qwill = { explainView = true } },
    -- Neovim applies versioned TextDocumentEdits (lsp.util.apply_workspace_edit) but does not
    -- say so; the agent needs to know to send them.
    workspace = { workspaceEdit = { documentChanges = true } },
  },
  handlers = {
    ['qwill/status'] = delegate('qwill.status', 'on_status'),
    ['qwill/agentEvent'] = delegate('qwill.agent', 'on_event'),
    ['workspace/applyEdit'] = delegate('qwill.review', 'apply_edit'),
  },
  -- Picked from the code action menu: explain shows a float, rewrite asks for the instruction.
  commands = {
    ['qwill.explain'] = command('qwill.explain'),
    ['qwill.rewrite'] = command('qwill.rewrite'),
  },
}
