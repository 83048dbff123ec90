using System.Text;

namespace DmEra.Admin;

/// <summary>
/// A small line editor for the console: left/right, backspace, up/down through history, Tab to complete
/// the current word from a list. On a terminal only; piped input is read line by line.
/// </summary>
internal sealed class LineEditor(Func<string, IReadOnlyList<string>> complete)
{
    private readonly List<string> _history = new();

    public string? ReadLine(string prompt)
    {
        if (Console.IsInputRedirected)
        {
            var piped = Console.ReadLine();
            return piped;
        }
        Console.Write(prompt);
        var line = new StringBuilder();
        var cursor = 0;
        var historyIndex = _history.Count;
        while (true)
        {
            var key = Console.ReadKey(intercept: true);
            switch (key.Key)
            {
                case ConsoleKey.Enter:
                    Console.WriteLine();
                    var text = line.ToString();
                    if (text.Trim().Length > 0 && (_history.Count == 0 || _history[^1] != text)) _history.Add(text);
                    return text;
                case ConsoleKey.D when key.Modifiers.HasFlag(ConsoleModifiers.Control) && line.Length == 0:
                    Console.WriteLine();
                    return null;
                case ConsoleKey.Backspace when cursor > 0:
                    line.Remove(--cursor, 1);
                    break;
                case ConsoleKey.Delete when cursor < line.Length:
                    line.Remove(cursor, 1);
                    break;
                case ConsoleKey.LeftArrow when cursor > 0:
                    cursor--;
                    break;
                case ConsoleKey.RightArrow when cursor < line.Length:
                    cursor++;
                    break;
                case ConsoleKey.Home:
                    cursor = 0;
                    break;
                case ConsoleKey.End:
                    cursor = line.Length;
                    break;
                case ConsoleKey.UpArrow when historyIndex > 0:
                    line.Clear().Append(_history[--historyIndex]);
                    cursor = line.Length;
                    break;
                case ConsoleKey.DownArrow when historyIndex < _history.Count:
                    historyIndex++;
                    line.Clear().Append(historyIndex < _history.Count ? _history[historyIndex] : "");
                    cursor = line.Length;
                    break;
                case ConsoleKey.Tab:
                    cursor = Complete(line, cursor);
                    break;
                default:
                    if (!char.IsControl(key.KeyChar)) line.Insert(cursor++, key.KeyChar);
                    break;
            }
            Redraw(prompt, line, cursor);
        }
    }

    private int Complete(StringBuilder line, int cursor)
    {
        var before = line.ToString(0, cursor);
        var start = before.LastIndexOf(' ') + 1;
        var word = before[start..];
        var matches = complete(before[..start]).Where(c => c.StartsWith(word, StringComparison.OrdinalIgnoreCase)).ToList();
        if (matches.Count == 0) return cursor;
        var common = matches.Aggregate((a, b) => new string(a.Zip(b).TakeWhile(p => char.ToLowerInvariant(p.First) == char.ToLowerInvariant(p.Second)).Select(p => p.First).ToArray()));
        if (matches.Count == 1) common += " ";
        else if (common.Length == word.Length)
        {
            Console.WriteLine();
            Console.WriteLine(string.Join("  ", matches));
        }
        line.Remove(start, word.Length).Insert(start, common);
        return start + common.Length;
    }

    private static void Redraw(string prompt, StringBuilder line, int cursor)
    {
        Console.Write("\r" + prompt + line + "\u001b[K");
        var back = line.Length - cursor;
        if (back > 0) Console.Write($"\u001b[{back}D");
    }
}
