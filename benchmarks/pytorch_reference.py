"""The authors' network as their PyTorch port builds it (SPEC 2), for comparison.

Used by tests/test_convert.py (weights saved from it must convert exactly) and by
benchmarks/pytorch_throughput.py (the speed our model is measured against). The
classes claim the port's import paths so that a pickled model names classes this
Python cannot import, exactly like the released hgreg-3d.pth.
"""

import functools

from torch import nn
from torch.nn import functional as F  # noqa: N812


class Residual(nn.Module):
    __module__ = "models.layers.Residual"

    def __init__(self, num_in, num_out):
        super().__init__()
        half = num_out // 2
        self.bn = nn.BatchNorm2d(num_in)
        self.conv1 = nn.Conv2d(num_in, half, 1)
        self.bn1 = nn.BatchNorm2d(half)
        self.conv2 = nn.Conv2d(half, half, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(half)
        self.conv3 = nn.Conv2d(half, num_out, 1)
        if num_in != num_out:
            self.conv4 = nn.Conv2d(num_in, num_out, 1)

    def forward(self, x):
        y = self.conv1(F.relu(self.bn(x)))
        y = self.conv2(F.relu(self.bn1(y)))
        y = self.conv3(F.relu(self.bn2(y)))
        return y + (self.conv4(x) if hasattr(self, "conv4") else x)


class Hourglass(nn.Module):
    __module__ = "models.hg_3d"

    def __init__(self, n, num_modules, feats):
        super().__init__()
        self.n = n
        self.up1_ = nn.ModuleList(Residual(feats, feats) for _ in range(num_modules))
        self.low1_ = nn.ModuleList(Residual(feats, feats) for _ in range(num_modules))
        if n > 1:
            self.low2 = Hourglass(n - 1, num_modules, feats)
        else:
            self.low2_ = nn.ModuleList(Residual(feats, feats) for _ in range(num_modules))
        self.low3_ = nn.ModuleList(Residual(feats, feats) for _ in range(num_modules))

    def forward(self, x):
        up = functools.reduce(lambda y, m: m(y), self.up1_, x)
        low = functools.reduce(lambda y, m: m(y), self.low1_, F.max_pool2d(x, 2, 2))
        low = self.low2(low) if self.n > 1 else functools.reduce(lambda y, m: m(y), self.low2_, low)
        low = functools.reduce(lambda y, m: m(y), self.low3_, low)
        return up + F.interpolate(low, scale_factor=2, mode="nearest")


class HourglassNet3D(nn.Module):
    __module__ = "models.hg_3d"

    def __init__(self, n_stack, n_modules, n_feats, n_reg_modules, depth=4, input_size=256):
        super().__init__()
        self.n_stack, self.n_modules, self.n_reg_modules = n_stack, n_modules, n_reg_modules
        n_joints = 16
        self.conv1_ = nn.Conv2d(3, 64, 7, stride=2, padding=3)
        self.bn1 = nn.BatchNorm2d(64)
        self.r1 = Residual(64, 128)
        self.r4 = Residual(128, 128)
        self.r5 = Residual(128, n_feats)
        self.hourglass = nn.ModuleList(Hourglass(depth, n_modules, n_feats) for _ in range(n_stack))
        self.Residual = nn.ModuleList(
            Residual(n_feats, n_feats) for _ in range(n_stack * n_modules)
        )
        self.lin_ = nn.ModuleList(
            nn.Sequential(nn.Conv2d(n_feats, n_feats, 1), nn.BatchNorm2d(n_feats), nn.ReLU())
            for _ in range(n_stack)
        )
        self.tmpOut = nn.ModuleList(nn.Conv2d(n_feats, n_joints, 1) for _ in range(n_stack))
        self.ll_ = nn.ModuleList(nn.Conv2d(n_feats, n_feats, 1) for _ in range(n_stack))
        self.tmpOut_ = nn.ModuleList(nn.Conv2d(n_joints, n_feats, 1) for _ in range(n_stack))
        self.reg_ = nn.ModuleList(Residual(n_feats, n_feats) for _ in range(4 * n_reg_modules))
        self.reg = nn.Linear(n_feats * (input_size // 64) ** 2, n_joints)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1_(x)))
        x = self.r5(self.r4(F.max_pool2d(self.r1(x), 2, 2)))
        heatmaps = []
        for i in range(self.n_stack):
            y = self.hourglass[i](x)
            for j in range(self.n_modules):
                y = self.Residual[i * self.n_modules + j](y)
            y = self.lin_[i](y)
            heatmaps.append(self.tmpOut[i](y))
            x = x + self.ll_[i](y) + self.tmpOut_[i](heatmaps[-1])
        for k in range(4):
            for j in range(self.n_reg_modules):
                x = self.reg_[k * self.n_reg_modules + j](x)
            x = F.max_pool2d(x, 2, 2)
        return heatmaps, self.reg(x.reshape(x.shape[0], -1))
