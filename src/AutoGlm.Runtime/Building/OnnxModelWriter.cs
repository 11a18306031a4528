using Google.Protobuf;

namespace AutoGlm.Runtime.Building;

/// <summary>ONNX tensor element types used by the builder (values of <c>TensorProto.DataType</c>).</summary>
internal enum OnnxDataType
{
    Float = 1,
    UInt8 = 2,
    Int32 = 6,
    Int64 = 7,
    Float16 = 10,
}

/// <summary>A graph input or output: a name, an element type and a shape whose symbolic dimensions are strings.</summary>
internal sealed record OnnxValueInfo(string Name, OnnxDataType Type, IReadOnlyList<object> Shape);

/// <summary>An attribute of a node: an int, a float, a list of ints, or a string.</summary>
internal sealed record OnnxAttribute(string Name, long? Int = null, float? Float = null, IReadOnlyList<long>? Ints = null, string? String = null);

/// <summary>One operator of the graph.</summary>
internal sealed record OnnxNode(string OpType, string Domain, IReadOnlyList<string> Inputs, IReadOnlyList<string> Outputs, IReadOnlyList<OnnxAttribute> Attributes);

/// <summary>A weight: stored inside the model when small, else in the external-data file at an offset.</summary>
internal sealed record OnnxInitializer(string Name, OnnxDataType Type, long[] Dims, byte[]? Inline, long ExternalOffset, long ExternalLength);

/// <summary>Writes an ONNX <c>ModelProto</c> with the protobuf wire format.</summary>
/// <remarks>Only the fields the model builder needs; field numbers are those of <c>onnx/onnx.proto3</c>.</remarks>
internal static class OnnxModelWriter
{
    /// <summary>IR version 9 (ONNX 1.14), read by every ONNX Runtime this project supports.</summary>
    private const long IrVersion = 9;

    public static byte[] Write(
        string graphName,
        IReadOnlyList<OnnxNode> nodes,
        IReadOnlyList<OnnxInitializer> initializers,
        IReadOnlyList<OnnxValueInfo> inputs,
        IReadOnlyList<OnnxValueInfo> outputs,
        string externalDataFile,
        IReadOnlyDictionary<string, long> opsets)
    {
        var graph = Message(w =>
        {
            foreach (var node in nodes)
            {
                WriteMessage(w, 1, NodeBytes(node));
            }

            w.WriteTag(2, WireFormat.WireType.LengthDelimited);
            w.WriteString(graphName);
            foreach (var init in initializers)
            {
                WriteMessage(w, 5, TensorBytes(init, externalDataFile));
            }

            foreach (var input in inputs)
            {
                WriteMessage(w, 11, ValueInfoBytes(input));
            }

            foreach (var output in outputs)
            {
                WriteMessage(w, 12, ValueInfoBytes(output));
            }
        });

        return Message(w =>
        {
            w.WriteTag(1, WireFormat.WireType.Varint);
            w.WriteInt64(IrVersion);
            w.WriteTag(2, WireFormat.WireType.LengthDelimited);
            w.WriteString("autoglm-edge model builder");
            WriteMessage(w, 7, graph);
            foreach (var (domain, version) in opsets)
            {
                WriteMessage(w, 8, Message(o =>
                {
                    o.WriteTag(1, WireFormat.WireType.LengthDelimited);
                    o.WriteString(domain);
                    o.WriteTag(2, WireFormat.WireType.Varint);
                    o.WriteInt64(version);
                }));
            }
        });
    }

    private static byte[] NodeBytes(OnnxNode node) => Message(w =>
    {
        foreach (var input in node.Inputs)
        {
            w.WriteTag(1, WireFormat.WireType.LengthDelimited);
            w.WriteString(input);
        }

        foreach (var output in node.Outputs)
        {
            w.WriteTag(2, WireFormat.WireType.LengthDelimited);
            w.WriteString(output);
        }

        w.WriteTag(3, WireFormat.WireType.LengthDelimited);
        w.WriteString(node.Outputs[0] + "_node");
        w.WriteTag(4, WireFormat.WireType.LengthDelimited);
        w.WriteString(node.OpType);
        foreach (var attribute in node.Attributes)
        {
            WriteMessage(w, 5, AttributeBytes(attribute));
        }

        if (node.Domain.Length > 0)
        {
            w.WriteTag(7, WireFormat.WireType.LengthDelimited);
            w.WriteString(node.Domain);
        }
    });

    private static byte[] AttributeBytes(OnnxAttribute attribute) => Message(w =>
    {
        w.WriteTag(1, WireFormat.WireType.LengthDelimited);
        w.WriteString(attribute.Name);
        int type;
        if (attribute.Float is { } f)
        {
            w.WriteTag(2, WireFormat.WireType.Fixed32);
            w.WriteFloat(f);
            type = 1; // FLOAT
        }
        else if (attribute.Int is { } i)
        {
            w.WriteTag(3, WireFormat.WireType.Varint);
            w.WriteInt64(i);
            type = 2; // INT
        }
        else if (attribute.String is { } text)
        {
            w.WriteTag(4, WireFormat.WireType.LengthDelimited);
            w.WriteBytes(ByteString.CopyFromUtf8(text));
            type = 3; // STRING
        }
        else
        {
            foreach (var value in attribute.Ints ?? [])
            {
                w.WriteTag(8, WireFormat.WireType.Varint);
                w.WriteInt64(value);
            }

            type = 7; // INTS
        }

        w.WriteTag(20, WireFormat.WireType.Varint);
        w.WriteInt32(type);
    });

    private static byte[] TensorBytes(OnnxInitializer init, string externalDataFile) => Message(w =>
    {
        foreach (var dim in init.Dims)
        {
            w.WriteTag(1, WireFormat.WireType.Varint);
            w.WriteInt64(dim);
        }

        w.WriteTag(2, WireFormat.WireType.Varint);
        w.WriteInt32((int)init.Type);
        w.WriteTag(8, WireFormat.WireType.LengthDelimited);
        w.WriteString(init.Name);
        if (init.Inline is not null)
        {
            w.WriteTag(9, WireFormat.WireType.LengthDelimited);
            w.WriteBytes(ByteString.CopyFrom(init.Inline));
            return;
        }

        foreach (var (key, value) in new[]
        {
            ("location", externalDataFile),
            ("offset", init.ExternalOffset.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            ("length", init.ExternalLength.ToString(System.Globalization.CultureInfo.InvariantCulture)),
        })
        {
            WriteMessage(w, 13, Message(e =>
            {
                e.WriteTag(1, WireFormat.WireType.LengthDelimited);
                e.WriteString(key);
                e.WriteTag(2, WireFormat.WireType.LengthDelimited);
                e.WriteString(value);
            }));
        }

        w.WriteTag(14, WireFormat.WireType.Varint);
        w.WriteInt32(1); // EXTERNAL
    });

    private static byte[] ValueInfoBytes(OnnxValueInfo info) => Message(w =>
    {
        w.WriteTag(1, WireFormat.WireType.LengthDelimited);
        w.WriteString(info.Name);
        var shape = Message(s =>
        {
            foreach (var dim in info.Shape)
            {
                WriteMessage(s, 1, Message(d =>
                {
                    if (dim is string symbol)
                    {
                        d.WriteTag(2, WireFormat.WireType.LengthDelimited);
                        d.WriteString(symbol);
                    }
                    else
                    {
                        d.WriteTag(1, WireFormat.WireType.Varint);
                        d.WriteInt64(Convert.ToInt64(dim, System.Globalization.CultureInfo.InvariantCulture));
                    }
                }));
            }
        });
        var tensorType = Message(t =>
        {
            t.WriteTag(1, WireFormat.WireType.Varint);
            t.WriteInt32((int)info.Type);
            WriteMessage(t, 2, shape);
        });
        WriteMessage(w, 2, Message(t => WriteMessage(t, 1, tensorType)));
    });

    private static void WriteMessage(CodedOutputStream w, int field, byte[] message)
    {
        w.WriteTag(field, WireFormat.WireType.LengthDelimited);
        w.WriteBytes(ByteString.CopyFrom(message));
    }

    private static byte[] Message(Action<CodedOutputStream> write)
    {
        using var buffer = new MemoryStream();
        using (var output = new CodedOutputStream(buffer, leaveOpen: true))
        {
            write(output);
        }

        return buffer.ToArray();
    }
}
