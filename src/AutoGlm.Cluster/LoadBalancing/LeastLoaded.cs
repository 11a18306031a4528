namespace AutoGlm.Cluster.LoadBalancing;

/// <summary>The one least-loaded pick, shared by the engine replicas (<c>ReplicaDispatcher</c>) and the heavy nodes (<c>NodePool</c>).</summary>
/// <remarks>Stateless; callers that must pick and count in one step hold their own lock.</remarks>
public static class LeastLoaded
{
    /// <summary>
    /// The eligible candidate with the lowest <paramref name="load"/>; among equal loads the lowest
    /// <paramref name="tieBreak"/>, then the first in order. Null when none is eligible.
    /// </summary>
    /// <param name="candidates">The candidates, in preference order.</param>
    /// <param name="eligible">Which may be picked.</param>
    /// <param name="load">Each one's load (lower is picked first).</param>
    /// <param name="tieBreak">Between equal loads, lower is picked first; null: the first in order.</param>
    public static T? Pick<T>(IReadOnlyList<T> candidates, Func<T, bool> eligible, Func<T, double> load, Func<T, double>? tieBreak = null)
        where T : class
    {
        T? best = null;
        double bestLoad = 0, bestTie = 0;
        foreach (var candidate in candidates)
        {
            if (!eligible(candidate))
            {
                continue;
            }

            var candidateLoad = load(candidate);
            var candidateTie = tieBreak?.Invoke(candidate) ?? 0;
            if (best is null || candidateLoad < bestLoad || (candidateLoad == bestLoad && candidateTie < bestTie))
            {
                (best, bestLoad, bestTie) = (candidate, candidateLoad, candidateTie);
            }
        }

        return best;
    }
}
