-- Builds the original's hgreg-3d network with the original's own model code, gives it
-- fixed non-trivial weights and BatchNorm statistics, runs it in evaluate mode on fixed
-- inputs, and saves with torch.save: the model, the model after clearState() (as the
-- original's main.lua:35-38 saves final_model.t7), the model as :float(), and the float
-- model with the class names a file saved from cudnn GPU training holds.
--
--   luajit tools/torch7/write_models.lua ORIGINAL_MODELS_DIR OUT_DIR nFeats nStack nModules nRegModules [seed] [inputs]
--
-- ORIGINAL_MODELS_DIR: src/models of a checkout of xingyizhou/pose-hg-3d (read, not
-- copied; tools/build_torch7.sh clones it). Writes OUT_DIR/model.t7 (as built, before
-- any forward: a model saved after one holds every module's buffers), model_clearstate.t7,
-- model_float.t7, model_cudnn.t7 and io.t7 ({input = ByteTensor [N,3,256,256] (RGB, the
-- network's input is input / 255), heatmaps = {FloatTensor [N,16,64,64] per stack},
-- depth = FloatTensor [N,16]}, Torch7's outputs of the double model), plus two files a
-- converter must refuse: optim_state.t7 (a table, as main.lua:37 saves) and
-- model_ascii.t7 (torch.save's 'ascii' format).
require 'torch'
require 'nn'
require 'nngraph'

local models_dir, out_dir = arg[1], arg[2]
local nFeats, nStack, nModules, nRegModules = tonumber(arg[3]), tonumber(arg[4]),
   tonumber(arg[5]), tonumber(arg[6])
local seed, nInputs = tonumber(arg[7] or 1), tonumber(arg[8] or 1)
assert(models_dir and out_dir and nRegModules, 'usage: see the header of this file')

-- The globals the original's model code reads (opts.lua: nnlib = nn without cudnn).
opt = {nFeats = nFeats, nStack = nStack, nModules = nModules, nRegModules = nRegModules}
ref = {nOutChannels = 16}

-- Weights on a grid of 2^-12 (and inputs of 1/255) keep the files small when gzipped.
local function quantised(t, step) return t:div(step):round():mul(step) end

local function fill(model)
   -- nn's own initialisation (reset(): uniform within 1 / sqrt(fan-in)), drawn from
   -- `seed`, so the activations keep their scale through the paper-size network too;
   -- BatchNorm gets non-trivial scales, shifts and running statistics.
   torch.manualSeed(seed)
   for _, m in ipairs(model:listModules()) do
      if m.running_mean then
         m.weight:uniform(0.6, 1.4)
         m.bias:uniform(-0.2, 0.2)
         m.running_mean:uniform(-0.2, 0.2)
         quantised(m.running_var:uniform(0.5, 1.5), 2^-12)
         quantised(m.running_mean, 2^-12)
      elseif m.weight then
         m:reset()
      end
      if m.weight then quantised(m.weight, 2^-12) end
      if m.bias then quantised(m.bias, 2^-12) end
   end
   model:zeroGradParameters()  -- nn allocates gradients uninitialised
   return model
end

local function build(lib)
   nnlib = lib
   paths.dofile(paths.concat(models_dir, 'hgreg-3d.lua'))
   return fill(createModel())
end

-- cudnn's module classes, registered under their names as subclasses of nn's (a GPU
-- file names them so; their saved fields are nn's plus cudnn's own, which a reader
-- ignores). No CUDA is needed to write them.
cudnn = {}
for _, name in ipairs({'SpatialConvolution', 'ReLU', 'SpatialMaxPooling'}) do
   torch.class('cudnn.' .. name, 'nn.' .. name, cudnn)
end

local function save_as_cuda(path, object)
   -- torch.File:writeObject (File.lua:203) writes torch.typename(object) as the class and
   -- then the object's own write(); cutorch's CudaStorage writes its size and its floats
   -- exactly as FloatStorage does (cutorch generic/CStorage.c:26-35 with
   -- torch/generic/Storage.c:229-241), so renaming Float to Cuda in the names written is
   -- what a file saved from GPU training holds.
   local typename, factory, getmetatable = torch.typename, torch.factory, torch.getmetatable
   local renamed = {['torch.FloatTensor'] = 'torch.CudaTensor',
                    ['torch.FloatStorage'] = 'torch.CudaStorage'}
   local original = {}
   for k, v in pairs(renamed) do original[v] = k end
   torch.typename = function(o) local n = typename(o); return renamed[n] or n end
   torch.factory = function(n) return factory(original[n] or n) end
   torch.getmetatable = function(n) return getmetatable(original[n] or n) end
   for _, m in ipairs(object:listModules()) do m._type = 'torch.CudaTensor' end  -- :cuda()'s
   local ok, err = pcall(torch.save, path, object)
   torch.typename, torch.factory, torch.getmetatable = typename, factory, getmetatable
   assert(ok, err)
end

local model = build(nn)
model:evaluate()
torch.save(paths.concat(out_dir, 'model.t7'), model)  -- as built: no buffers yet
torch.manualSeed(seed + 1)
-- Random 32x32 images enlarged 8x (blocks of equal pixels: small when gzipped).
local small = torch.ByteTensor(nInputs, 3, 32, 32):random(0, 255):double()
local bytes = nn.SpatialUpSamplingNearest(8):forward(small):byte()
local out = model:forward(bytes:double():div(255))
local heatmaps = {}
for s = 1, #out - 1 do heatmaps[s] = out[s]:float() end
torch.save(paths.concat(out_dir, 'io.t7'),
           {input = bytes, heatmaps = heatmaps, depth = out[#out]:float()})
model:clearState()
torch.save(paths.concat(out_dir, 'model_clearstate.t7'), model)
torch.save(paths.concat(out_dir, 'model_float.t7'), model:clone():float())
local gpu = build(cudnn):float()
gpu:evaluate()
save_as_cuda(paths.concat(out_dir, 'model_cudnn.t7'), gpu)

torch.save(paths.concat(out_dir, 'optim_state.t7'), {learningRate = 2.5e-4, alpha = 0.99})
torch.save(paths.concat(out_dir, 'model_ascii.t7'), nn.Sequential():add(nn.ReLU()), 'ascii')

local params = model:getParameters():nElement()
print(string.format('wrote %s: %d parameters, %d stacks, outputs %d', out_dir, params,
                    nStack, #out))
