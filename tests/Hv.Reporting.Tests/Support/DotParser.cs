using System.Text;

namespace Hv.Reporting.Tests.Support;

/// <summary>A parsed DOT digraph: nodes with attributes, edges with attributes.</summary>
internal sealed record DotGraph(string Name, Dictionary<string, Dictionary<string, string>> Nodes,
    List<(string From, string To, Dictionary<string, string> Attributes)> Edges);

/// <summary>
/// A strict parser for the DOT subset smc-report writes: <c>digraph ID { stmt; ... }</c> where a statement is
/// an attribute default (<c>rankdir=LR</c>, <c>node [...]</c>), a node (<c>"id" [...]</c>) or an edge
/// (<c>"a" -> "b" [...]</c>); <c>//</c> comments. Throws <see cref="FormatException"/> on anything else.
/// </summary>
internal static class DotParser
{
    public static DotGraph Parse(string text)
    {
        var tokens = Tokenize(text);
        int i = 0;
        Expect(tokens, ref i, "digraph");
        string name = Next(tokens, ref i);
        Expect(tokens, ref i, "{");
        var nodes = new Dictionary<string, Dictionary<string, string>>();
        var edges = new List<(string, string, Dictionary<string, string>)>();
        while (Peek(tokens, i) != "}")
        {
            string first = Next(tokens, ref i);
            if (Peek(tokens, i) == "=")
            {
                i++;
                Next(tokens, ref i);
            }
            else if (first is "node" or "edge" or "graph") Attributes(tokens, ref i);
            else if (Peek(tokens, i) == "->")
            {
                i++;
                string to = Next(tokens, ref i);
                if (!nodes.ContainsKey(Unquote(first)) || !nodes.ContainsKey(Unquote(to)))
                    throw new FormatException($"edge {first} -> {to} uses an undeclared node");
                edges.Add((Unquote(first), Unquote(to), Attributes(tokens, ref i)));
            }
            else
            {
                if (!nodes.TryAdd(Unquote(first), Attributes(tokens, ref i))) throw new FormatException($"node {first} declared twice");
            }
            Expect(tokens, ref i, ";");
        }
        Expect(tokens, ref i, "}");
        if (i != tokens.Count) throw new FormatException("text after the graph");
        return new DotGraph(name, nodes, edges);
    }

    private static Dictionary<string, string> Attributes(List<string> tokens, ref int i)
    {
        var a = new Dictionary<string, string>();
        if (Peek(tokens, i) != "[") return a;
        i++;
        while (Peek(tokens, i) != "]")
        {
            string key = Next(tokens, ref i);
            Expect(tokens, ref i, "=");
            a[key] = Unquote(Next(tokens, ref i));
            if (Peek(tokens, i) == ",") i++;
        }
        i++;
        return a;
    }

    private static string Unquote(string token)
    {
        if (!token.StartsWith('"')) return token;
        var sb = new StringBuilder();
        for (int k = 1; k < token.Length - 1; k++)
        {
            if (token[k] == '\\')
            {
                k++;
                sb.Append(token[k] == 'n' ? '\n' : token[k]);
            }
            else sb.Append(token[k]);
        }
        return sb.ToString();
    }

    private static List<string> Tokenize(string text)
    {
        var tokens = new List<string>();
        int i = 0;
        while (i < text.Length)
        {
            char c = text[i];
            if (char.IsWhiteSpace(c)) i++;
            else if (c == '/' && i + 1 < text.Length && text[i + 1] == '/')
            {
                while (i < text.Length && text[i] != '\n') i++;
            }
            else if (c == '"')
            {
                int start = i++;
                while (true)
                {
                    if (i >= text.Length || text[i] == '\n') throw new FormatException("unterminated string");
                    if (text[i] == '\\') i += 2;
                    else if (text[i++] == '"') break;
                }
                tokens.Add(text[start..i]);
            }
            else if (c == '-' && i + 1 < text.Length && text[i + 1] == '>')
            {
                tokens.Add("->");
                i += 2;
            }
            else if ("{}[];,=".Contains(c))
            {
                tokens.Add(c.ToString());
                i++;
            }
            else if (char.IsLetterOrDigit(c) || c is '_' or '.')
            {
                int start = i;
                while (i < text.Length && (char.IsLetterOrDigit(text[i]) || text[i] is '_' or '.')) i++;
                tokens.Add(text[start..i]);
            }
            else throw new FormatException($"unexpected '{c}'");
        }
        return tokens;
    }

    private static string? Peek(List<string> tokens, int i) => i < tokens.Count ? tokens[i] : null;

    private static string Next(List<string> tokens, ref int i) =>
        i < tokens.Count ? tokens[i++] : throw new FormatException("unexpected end of graph");

    private static void Expect(List<string> tokens, ref int i, string token)
    {
        if (Next(tokens, ref i) != token) throw new FormatException($"expected '{token}' at token {i - 1}");
    }
}
