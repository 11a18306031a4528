using System.Text.Json.Nodes;
using AutoGlm.Runtime.Text;

namespace AutoGlm.Runtime.Tests.Text;

/// <summary>Open-AutoGLM's action space (its system prompts' forms), well-formed and not.</summary>
public sealed class AutoGlmActionParserTests
{
    [Fact]
    public void Parse_ThinkThenTap_GivesThinkingAnswerAndAction()
    {
        var reply = AutoGlmActionParser.Parse("<think>The settings icon is at the top right.</think>\n<answer>do(action=\"Tap\", element=[912,48])</answer>");

        Assert.Equal("The settings icon is at the top right.", reply.Thinking);
        Assert.Equal("do(action=\"Tap\", element=[912,48])", reply.Answer);
        var action = reply.Action!;
        Assert.Equal("Tap", action.Name);
        Assert.Equal("[912,48]", action.Args["element"]!.ToJsonString());
        Assert.Single(action.Args);
    }

    [Theory]
    [InlineData("do(action=\"Launch\", app=\"Settings\")", "Launch", "{\"app\":\"Settings\"}")]
    [InlineData("do(action=\"Tap\", element=[0,999], message=\"important operation\")", "Tap", "{\"element\":[0,999],\"message\":\"important operation\"}")]
    [InlineData("do(action=\"Type\", text=\"New York\")", "Type", "{\"text\":\"New York\"}")]
    [InlineData("do(action=\"Type_Name\", text=\"张三\")", "Type_Name", "{\"text\":\"\\u5F20\\u4E09\"}")]
    [InlineData("do(action=\"Interact\")", "Interact", "{}")]
    [InlineData("do(action=\"Swipe\", start=[500,800], end=[500,200])", "Swipe", "{\"start\":[500,800],\"end\":[500,200]}")]
    [InlineData("do(action=\"Note\", message=\"True\")", "Note", "{\"message\":\"True\"}")]
    [InlineData("do(action=\"Call_API\", instruction=\"Summarize the reviews\")", "Call_API", "{\"instruction\":\"Summarize the reviews\"}")]
    [InlineData("do(action=\"Long Press\", element=[120, 640])", "Long Press", "{\"element\":[120,640]}")]
    [InlineData("do(action=\"Double Tap\", element=[5,5])", "Double Tap", "{\"element\":[5,5]}")]
    [InlineData("do(action=\"Take_over\", message=\"Please log in\")", "Take_over", "{\"message\":\"Please log in\"}")]
    [InlineData("do(action=\"Back\")", "Back", "{}")]
    [InlineData("do(action=\"Home\")", "Home", "{}")]
    [InlineData("do(action=\"Wait\", duration=\"2 seconds\")", "Wait", "{\"duration\":\"2 seconds\"}")]
    [InlineData("finish(message=\"Task completed.\")", "finish", "{\"message\":\"Task completed.\"}")]
    [InlineData("do(action='Type', text='it\\'s \\\"quoted\\\"\\n')", "Type", "{\"text\":\"it\\u0027s \\u0022quoted\\u0022\\n\"}")]
    public void ParseAction_DocumentedForms_GiveNameAndArgs(string code, string name, string argsJson)
    {
        var action = AutoGlmActionParser.ParseAction(code)!;

        Assert.Equal(name, action.Name);
        Assert.Equal(argsJson, new JsonObject(action.Args.Select(kv => KeyValuePair.Create(kv.Key, kv.Value?.DeepClone()))).ToJsonString());
    }

    [Fact]
    public void Parse_UnescapedQuotesInTypedText_TakenWholeAsOpenAutoGlmDoes()
    {
        var reply = AutoGlmActionParser.Parse("<answer>do(action=\"Type\", text=\"He said \"hi\" twice\")</answer>");

        Assert.Equal("He said \"hi\" twice", reply.Action!.Args["text"]!.GetValue<string>());
    }

    [Fact]
    public void Parse_NoTags_TakesTheCallFromWhereItStarts()
    {
        var reply = AutoGlmActionParser.Parse("I should go back first. do(action=\"Back\")");

        Assert.Null(reply.Thinking);
        Assert.Equal("do(action=\"Back\")", reply.Answer);
        Assert.Equal("Back", reply.Action!.Name);
    }

    [Theory]
    [InlineData("<answer>do(action=\"Tap\", element=[1200,40])</answer>")]          // off the 0–999 grid
    [InlineData("<answer>do(action=\"Tap\", element=[10])</answer>")]               // one coordinate
    [InlineData("<answer>do(action=\"Tap\", element=[1.5,2])</answer>")]            // not integers
    [InlineData("<answer>do(action=\"Tap\")</answer>")]                             // no element
    [InlineData("<answer>do(action=\"Fly\", element=[1,2])</answer>")]              // not an action
    [InlineData("<answer>do(action=\"Swipe\", start=[1,2])</answer>")]              // no end
    [InlineData("<answer>do(action=\"Tap\", element=[1,2]</answer>")]               // unclosed
    [InlineData("<answer>do(action=\"Tap\", element=[1,2]) and then more</answer>")] // text after the call
    [InlineData("<answer>do(element=[1,2])</answer>")]                              // no action name
    [InlineData("<answer>do(action=\"Tap\", action=\"Back\")</answer>")]             // a repeated argument
    [InlineData("<answer>print(\"hello\")</answer>")]                               // another function
    [InlineData("<answer>do(action=\"Launch\", app=\"Settings)</answer>")]            // unterminated string
    [InlineData("<answer>do(action=Tap, element=[1,2])</answer>")]                  // a bare name
    [InlineData("<answer></answer>")]
    [InlineData("<think>only thinking")]
    [InlineData("The weather is nice today.")]
    [InlineData("")]
    public void Parse_Malformed_NoActionNeverThrows(string text)
    {
        var reply = AutoGlmActionParser.Parse(text);

        Assert.Null(reply.Action);
    }

    [Fact]
    public void Parse_UnclosedThink_KeepsTheThinkingText()
    {
        var reply = AutoGlmActionParser.Parse("<think>still reasoning about the");

        Assert.Equal("still reasoning about the", reply.Thinking);
        Assert.Null(reply.Answer);
    }
}
