package model

import (
	"errors"
	"fmt"
)

// Convolution and pooling nodes: Conv, ConvInteger, MaxPool, AveragePool and
// the global pools (auto_pad resolved to explicit pads), and MatMulInteger.

// windowAttrsFor resolves the common Conv/pool attributes into kpuopt's
// strides, pads and dilations (auto_pad becomes explicit pads).
func (im *onnxImporter) windowAttrsFor(as onnxAttrs, x *Tensor, kernel []int64) (Attributes, error) {
	if len(x.Shape) != 4 {
		return nil, fmt.Errorf("input %q has shape %v: only 2-D windows on NCHW inputs (rank 4) are supported", x.Name, x.Shape)
	}
	attrs := Attributes{"kernel_shape": kernel}
	strides, ok, err := as.ints("strides")
	if err != nil {
		return nil, err
	}
	if !ok {
		strides = []int64{1, 1}
	} else {
		attrs["strides"] = strides
	}
	dil, ok, err := as.ints("dilations")
	if err != nil {
		return nil, err
	}
	if !ok {
		dil = []int64{1, 1}
	} else {
		attrs["dilations"] = dil
	}
	if len(strides) != 2 || len(dil) != 2 || len(kernel) != 2 {
		return nil, fmt.Errorf("kernel_shape %v, strides %v, dilations %v: want 2 values each (2-D windows only)", kernel, strides, dil)
	}
	pads, hasPads, err := as.ints("pads")
	if err != nil {
		return nil, err
	}
	autoPad, err := as.str("auto_pad", "NOTSET")
	if err != nil {
		return nil, err
	}
	switch autoPad {
	case "NOTSET", "":
		if hasPads {
			attrs["pads"] = pads
		}
	case "VALID":
	case "SAME_UPPER", "SAME_LOWER":
		p := make([]int64, 4)
		for i := 0; i < 2; i++ {
			in, s, k, d := x.Shape[2+i], strides[i], kernel[i], dil[i]
			if s < 1 || k < 1 || d < 1 {
				return nil, fmt.Errorf("kernel_shape %v, strides %v, dilations %v: want values >= 1", kernel, strides, dil)
			}
			outDim := (in + s - 1) / s
			total := max(0, (outDim-1)*s+(k-1)*d+1-in)
			small, big := total/2, total-total/2
			if autoPad == "SAME_UPPER" {
				p[i], p[i+2] = small, big
			} else {
				p[i], p[i+2] = big, small
			}
		}
		attrs["pads"] = p
	default:
		return nil, fmt.Errorf("attribute \"auto_pad\" = %q: want NOTSET, SAME_UPPER, SAME_LOWER or VALID", autoPad)
	}
	return attrs, nil
}

func (im *onnxImporter) convConv() error {
	n := im.node
	as, err := im.header(2, 3, 1, "auto_pad", "dilations", "group", "kernel_shape", "pads", "strides")
	if err != nil {
		return err
	}
	attrs, err := im.convAttrs(as, n.inputs)
	if err != nil {
		return err
	}
	_, err = im.emit("", OpConv2D, n.inputs, n.outputs[0], attrs)
	return err
}

// convAttrs checks a 2-D convolution's input ins[0] and weight ins[1] and
// returns its window attributes (the kernel from kernel_shape, else from the
// weight) with group when not 1.
func (im *onnxImporter) convAttrs(as onnxAttrs, ins []string) (Attributes, error) {
	x, err := im.tensor(ins[0])
	if err != nil {
		return nil, err
	}
	w, err := im.tensor(ins[1])
	if err != nil {
		return nil, err
	}
	if len(w.Shape) != 4 {
		return nil, fmt.Errorf("weight %q has shape %v: only 2-D convolutions (rank-4 weights) are supported", w.Name, w.Shape)
	}
	kernel, ok, err := as.ints("kernel_shape")
	if err != nil {
		return nil, err
	}
	if !ok {
		kernel = []int64{w.Shape[2], w.Shape[3]}
	}
	attrs, err := im.windowAttrsFor(as, x, kernel)
	if err != nil {
		return nil, err
	}
	group, err := as.int("group", 1)
	if err != nil {
		return nil, err
	}
	if group != 1 {
		attrs["group"] = group
	}
	return attrs, nil
}

func (im *onnxImporter) convPool() error {
	n := im.node
	isMax := n.opType == "MaxPool"
	known := []string{"auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads", "strides"}
	if isMax {
		known = append(known, "storage_order")
	} else {
		known = append(known, "count_include_pad")
	}
	as, err := im.header(1, 1, 1, known...)
	if err != nil {
		return err
	}
	x, err := im.tensor(n.inputs[0])
	if err != nil {
		return err
	}
	kernel, ok, err := as.ints("kernel_shape")
	if err != nil {
		return err
	}
	if !ok {
		return errors.New("attribute \"kernel_shape\" is required")
	}
	attrs, err := im.windowAttrsFor(as, x, kernel)
	if err != nil {
		return err
	}
	typ := OpMaxPool
	if !isMax {
		typ = OpAvgPool
		if d, ok := attrs["dilations"].([]int64); ok && (d[0] != 1 || d[1] != 1) {
			return fmt.Errorf("attribute \"dilations\" = %v: AveragePool supports only dilation 1", d)
		}
		delete(attrs, "dilations")
		cip, err := as.int("count_include_pad", 0)
		if err != nil {
			return err
		}
		if cip != 0 {
			attrs["count_include_pad"] = true
		}
	}
	ceil, err := as.int("ceil_mode", 0)
	if err != nil {
		return err
	}
	if ceil != 0 {
		// kpuopt pools with floor rounding; accept ceil_mode only where
		// both roundings give the same output size.
		op := &Operator{Name: "ceil_check", Type: typ, Attrs: attrs}
		p, err := poolGeom(op, x)
		if err != nil {
			return err
		}
		for i, dims := range [][4]int64{{p.H, p.PT + p.PB, p.DH*(p.KH-1) + 1, p.SH}, {p.W, p.PL + p.PR, p.DW*(p.KW-1) + 1, p.SW}} {
			span := dims[0] + dims[1] - dims[2]
			if span >= 0 && span%dims[3] != 0 {
				return fmt.Errorf("attribute \"ceil_mode\" = 1 changes the output size along spatial dim %d; kpuopt pools with floor rounding only", i)
			}
		}
	}
	_, err = im.emit("", typ, n.inputs, n.outputs[0], attrs)
	return err
}

func (im *onnxImporter) convGlobalPool() error {
	n := im.node
	if _, err := im.header(1, 1, 1); err != nil {
		return err
	}
	x, err := im.tensor(n.inputs[0])
	if err != nil {
		return err
	}
	if len(x.Shape) != 4 {
		return fmt.Errorf("input %q has shape %v: only NCHW inputs (rank 4) are supported", x.Name, x.Shape)
	}
	typ := OpAvgPool
	if n.opType == "GlobalMaxPool" {
		typ = OpMaxPool
	}
	_, err = im.emit("", typ, n.inputs, n.outputs[0], Attributes{"kernel_shape": []int64{x.Shape[2], x.Shape[3]}})
	return err
}

// convInteger maps MatMulInteger and ConvInteger (int8 operands, int32
// result) to MATMUL and CONV2D with an int32 output. Zero points must be
// absent or constant zeros: kpuopt's integer GEMMs are symmetric.
func (im *onnxImporter) convInteger() error {
	n := im.node
	isConv := n.opType == "ConvInteger"
	var as onnxAttrs
	var err error
	if isConv {
		as, err = im.attrs("auto_pad", "dilations", "group", "kernel_shape", "pads", "strides")
	} else {
		as, err = im.attrs()
	}
	if err != nil {
		return err
	}
	if err := im.arity(2, 4, 1); err != nil {
		return err
	}
	for i, zp := range n.inputs[2:] {
		if zp == "" {
			continue
		}
		v, err := im.constValues(zp, "zero point")
		if err != nil {
			return err
		}
		for _, x := range v {
			if x != 0 {
				return fmt.Errorf("input %d %q: zero point %v: only zero points of 0 (symmetric quantization) are supported", i+2, zp, x)
			}
		}
	}
	ins := n.inputs[:2]
	typ := OpMatMul
	var attrs Attributes
	if isConv {
		if attrs, err = im.convAttrs(as, ins); err != nil {
			return err
		}
		typ = OpConv2D
	}
	t, err := im.emit("", typ, ins, n.outputs[0], attrs)
	if err != nil {
		return err
	}
	if t.DType != Int8 && t.DType != Int32 {
		return fmt.Errorf("inputs have dtype %s, %s needs INT8 (or INT32) operands", t.DType, n.opType)
	}
	t.DType = Int32
	return nil
}
