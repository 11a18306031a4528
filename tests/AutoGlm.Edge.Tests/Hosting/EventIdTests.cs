using System.Reflection;
using AutoGlm.Cluster.Routing;
using AutoGlm.Edge.Hosting;
using AutoGlm.Runtime.Generation;
using Microsoft.Extensions.Logging;

namespace AutoGlm.Edge.Tests.Hosting;

/// <summary>Log event ids are the key people filter and alert on: each names one message within its assembly.</summary>
public sealed class EventIdTests
{
    public static TheoryData<string> Assemblies => [typeof(EdgeHost).Assembly.GetName().Name!, typeof(RoutingChatClient).Assembly.GetName().Name!, typeof(LocalEngine).Assembly.GetName().Name!];

    [Theory]
    [MemberData(nameof(Assemblies))]
    public void LoggerMessages_InEachAssembly_HaveUniqueEventIds(string assemblyName)
    {
        var assembly = Assembly.Load(assemblyName);
        var messages = assembly.GetTypes()
            .SelectMany(t => t.GetMethods(BindingFlags.Static | BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
            .Select(m => (Method: m, Attribute: m.GetCustomAttribute<LoggerMessageAttribute>()))
            .Where(x => x.Attribute is not null)
            .ToList();

        Assert.NotEmpty(messages);
        var twice = messages
            .GroupBy(x => x.Attribute!.EventId)
            .Where(g => g.Count() > 1)
            .Select(g => $"{g.Key}: {string.Join(", ", g.Select(x => x.Method.DeclaringType!.FullName + "." + x.Method.Name))}")
            .ToList();
        Assert.True(twice.Count == 0, "event ids used more than once:\n" + string.Join("\n", twice));
    }
}
