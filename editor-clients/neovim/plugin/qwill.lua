-- `:Qwill` exists before setup() so that `:Qwill doctor` works on a fresh install.
if vim.g.loaded_qwill then
  return
end
vim.g.loaded_qwill = true
if vim.fn.has('nvim-0.11') == 0 then
  return
end
require('qwill').create_command()
