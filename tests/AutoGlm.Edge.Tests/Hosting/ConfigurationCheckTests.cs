using AutoGlm.Edge.Hosting;
using Microsoft.Extensions.Configuration;

namespace AutoGlm.Edge.Tests.Hosting;

/// <summary>The configuration read against the options types before anything binds it.</summary>
public sealed class ConfigurationCheckTests
{
    private sealed class Sample
    {
        public int Port { get; set; }
        public double? Ratio { get; set; }
        public DayOfWeek Day { get; set; }
        public TimeSpan Every { get; set; }
        public bool On { get; set; }
        public List<Item> Items { get; set; } = [];
        public List<int> Numbers { get; } = [];
        public Dictionary<string, Item> Named { get; set; } = [];
        public Item Nested { get; set; } = new();
        public int Computed => Port + 1;
    }

    private sealed class Item
    {
        public string Name { get; set; } = "";
        public int Size { get; init; }
    }

    private static ConfigurationCheck Check(params (string Key, string Value)[] values) =>
        ConfigurationCheck.For(
            new ConfigurationBuilder().AddInMemoryCollection(values.Select(v => KeyValuePair.Create<string, string?>(v.Key, v.Value))).Build(),
            "S",
            typeof(Sample),
            "see the docs");

    [Fact]
    public void Run_GoodValues_NoErrorsNoUnknownKeys()
    {
        var check = Check(("S:Port", "1"), ("S:Ratio", "0.5"), ("S:Day", "monday"), ("S:Every", "00:01:00"), ("S:On", "True"),
            ("S:Items:0:Name", "a"), ("S:Items:0:Size", "2"), ("S:Numbers:0", "3"), ("S:Named:x:Size", "4"), ("S:Nested:Name", "n"), ("S:Nested:Size", ""));

        Assert.Empty(check.Errors);
        Assert.Empty(check.UnknownKeys);
    }

    [Fact]
    public void Run_BadValues_EachNamedWithWhatWasExpected()
    {
        var check = Check(("S:Port", "abc"), ("S:Ratio", "1,5"), ("S:Day", "someday"), ("S:On", "yes"), ("S:Items:1:Size", "big"), ("S:Numbers:0", "x"), ("S:Named:x:Size", "9999999999"), ("S:Nested", "flat"));

        Assert.Equal(
            new[]
            {
                "S:Port is 'abc', which is not a whole number",
                "S:Ratio is '1,5', which is not a number (with . as the decimal point)",
                "S:Day is 'someday', which is not one of Sunday, Monday, Tuesday, Wednesday, Thursday, Friday, Saturday",
                "S:On is 'yes', which is not true or false",
                "S:Items:1:Size is 'big', which is not a whole number",
                "S:Numbers:0 is 'x', which is not a whole number",
                "S:Named:x:Size is '9999999999', which is not a whole number",
                "S:Nested is a section of settings, not a value (got 'flat')",
            }.Order(StringComparer.Ordinal),
            check.Errors.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Run_UnknownKeys_NamedAtTheirDepthWithTheSettingsThere()
    {
        var check = Check(("S:Prot", "1"), ("S:Items:0:Nmae", "a"), ("S:Nested:Size", "1"), ("S:Nested:Colour", "red"), ("S:Computed", "3"));

        Assert.Equal(
            [
                "S:Computed is not a setting (expected one of Port, Ratio, Day, Every, On, Items, Numbers, Named, Nested; see the docs)",
                "S:Items:0:Nmae is not a setting (expected one of Name, Size; see the docs)",
                "S:Nested:Colour is not a setting (expected one of Name, Size; see the docs)",
                "S:Prot is not a setting (expected one of Port, Ratio, Day, Every, On, Items, Numbers, Named, Nested; see the docs)",
            ],
            check.UnknownKeys.Order(StringComparer.Ordinal));
        Assert.Empty(check.Errors);
    }

    [Fact]
    public void Run_LeafGivenASection_IsAnError()
    {
        var check = Check(("S:Port:Value", "1"));

        Assert.Equal(["S:Port takes a single value, not a section (found S:Port:Value)"], check.Errors);
    }
}
