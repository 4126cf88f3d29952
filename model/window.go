package model

import "fmt"

// Window is the resolved geometry of a CONV2D (NCHW input [N, C, H, W],
// weights [OC, C/Group, KH, KW]) or of a pooling operator (OC = Group = C):
// strides SH, SW; pads top, left, bottom, right; dilations DH, DW; output
// OH x OW.
type Window struct {
	N, C, H, W     int64
	OC, KH, KW     int64
	SH, SW         int64
	PT, PL, PB, PR int64
	DH, DW         int64
	Group          int64
	OH, OW         int64
}

// Window returns the window geometry of a CONV2D, CONV2D_DEPTHWISE, MAXPOOL
// or AVGPOOL operator of g, as shape inference and Evaluate resolve it.
func (g *Graph) Window(op *Operator) (Window, error) {
	if op == nil || len(op.Inputs) == 0 {
		return Window{}, fmt.Errorf("window: operator has no inputs")
	}
	ins := g.tensorsOf(op.Inputs)
	for i, t := range ins {
		if t == nil {
			return Window{}, g.opErr(op, fmt.Errorf("input tensor %q is not declared", op.Inputs[i]))
		}
	}
	var p convParams
	var err error
	switch opInfos[op.Type].kind {
	case kindConv:
		if len(ins) < 2 {
			return Window{}, g.opErr(op, fmt.Errorf("has %d inputs, want at least 2", len(ins)))
		}
		p, err = convGeom(op, ins[0], ins[1])
	case kindPool:
		p, err = poolGeom(op, ins[0])
	default:
		return Window{}, g.opErr(op, fmt.Errorf("%s has no window geometry", op.Type))
	}
	if err != nil {
		return Window{}, g.opErr(op, err)
	}
	return Window(p), nil
}
