-- Runs the original's two criteria (src/models/layers/FusionCriterion.lua and
-- VarCriterion.lua of xingyizhou/pose-hg-3d, read from a checkout) on fixed inputs and
-- saves their forward values and gradients, for tests/test_torch7.py.
--
--   luajit tools/torch7/write_criteria.lua ORIGINAL_MODELS_DIR OUT_FILE [seed]
--
-- Four samples: 1 and 3 with depth (regTarget), 2 and 4 without (regTarget all -1, as the
-- original marks 2D-only samples: its sum is -nJoints); weakTarget [B, 16, 3] holds the 2D
-- joints and a visibility flag, some joints invisible. Saved: the inputs, FusionCriterion's
-- output and gradInput on the batch, and per sample VarCriterion's and MSECriterion's.
require 'torch'
require 'nn'

local models_dir, out_file = arg[1], arg[2]
torch.manualSeed(tonumber(arg[3] or 7))
dataset = {nJoints = 16}  -- the globals FusionCriterion reads
opt = {epsilon = 1e-6}
paths.dofile(paths.concat(models_dir, 'layers', 'FusionCriterion.lua'))

local B, J = 4, 16
local z = torch.rand(B, J):mul(2):add(-1)
local regTarget = torch.rand(B, J):mul(2):add(-1)
regTarget[2]:fill(-1)
regTarget[4]:fill(-1)
local weak = torch.zeros(B, J, 3)
weak:select(3, 1):uniform(-1, 1)
weak:select(3, 2):uniform(-1, 1)
weak:select(3, 3):fill(1)
weak[2][4][3] = 0  -- left hip unseen: its bones drop out of their groups
weak[4][11][3] = 0  -- right wrist unseen
weak[4][12][3] = 0  -- right elbow unseen: the arms group keeps two bones

local regWeight, varWeight = 0.1, 0.01
local fusion = FusionCriterion(regWeight, varWeight)
local fusion_output = fusion:forward(z, {regTarget, weak})
local fusion_grad = fusion:backward(z, {regTarget, weak}):clone()

local var_output, var_grad, mse_output = {}, {}, {}
for t = 1, B do
   local var, mse = VarCriterion(), nn.MSECriterion()
   var_output[t] = var:forward(z:narrow(1, t, 1), weak:narrow(1, t, 1))
   var_grad[t] = var:backward(z:narrow(1, t, 1), weak:narrow(1, t, 1)):clone()
   mse_output[t] = mse:forward(z:narrow(1, t, 1), regTarget:narrow(1, t, 1))
end

torch.save(out_file, {
   z = z, regTarget = regTarget, weakTarget = weak, regWeight = regWeight,
   varWeight = varWeight, fusion_output = fusion_output, fusion_grad = fusion_grad,
   var_output = var_output, var_grad = var_grad, mse_output = mse_output,
})
print('wrote ' .. out_file)
