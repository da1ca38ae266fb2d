"""torchvision ResNets by biqa backbone name, for the peers and the tests:
"resnet50" is torchvision's own; "resnet18-w0.25" scales every channel count
by 0.25 (at least 1), as methods/resnet.c does, with torchvision's blocks,
init and state_dict names."""
import torch
import torchvision
from torchvision.models.resnet import BasicBlock, Bottleneck

_ARCHS = {"resnet18": (BasicBlock, [2, 2, 2, 2]), "resnet34": (BasicBlock, [3, 4, 6, 3]),
          "resnet50": (Bottleneck, [3, 4, 6, 3]), "resnet101": (Bottleneck, [3, 4, 23, 3])}


class ScaledResNet(torchvision.models.ResNet):
    def __init__(self, block, layers, width, num_classes):
        torch.nn.Module.__init__(self)
        self._norm_layer = torch.nn.BatchNorm2d
        self.dilation, self.groups, self.base_width = 1, 1, 64
        w = lambda c: max(1, round(c * width))  # noqa: E731
        self.inplanes = w(64)
        self.conv1 = torch.nn.Conv2d(3, self.inplanes, 7, 2, 3, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(self.inplanes)
        self.relu = torch.nn.ReLU(inplace=True)
        self.maxpool = torch.nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make_layer(block, w(64), layers[0])
        self.layer2 = self._make_layer(block, w(128), layers[1], stride=2)
        self.layer3 = self._make_layer(block, w(256), layers[2], stride=2)
        self.layer4 = self._make_layer(block, w(512), layers[3], stride=2)
        self.avgpool = torch.nn.AdaptiveAvgPool2d(1)
        self.fc = torch.nn.Linear(w(512) * block.expansion, num_classes)


def resnet(name, num_classes):
    base, _, width = name.partition("-w")
    if not width:
        return getattr(torchvision.models, base)(num_classes=num_classes)
    block, layers = _ARCHS[base]
    return ScaledResNet(block, layers, float(width), num_classes)
