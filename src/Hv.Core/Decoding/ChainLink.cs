namespace Hv.Core.Decoding;

/// <summary>Something the dispatcher chains to its successor (decoded blocks, translated units).</summary>
internal interface IChained<T> where T : class, IChained<T>
{
    /// <summary>The node's chain state.</summary>
    ChainLink<T> Link { get; }
}

/// <summary>
/// A one-entry successor link plus its back links: the dispatcher remembers what ran after a block or unit so
/// it can skip the cache lookup next time, and invalidation uses the back links to cut every chain into a dead
/// node at once (so nothing keeps it, or its compiled delegate, alive).
/// </summary>
internal sealed class ChainLink<T> where T : class, IChained<T>
{
    private List<T>? predecessors;

    /// <summary>The nodes whose successor is the owner (for tests and diagnostics).</summary>
    public IReadOnlyList<T> Predecessors => predecessors ?? (IReadOnlyList<T>)[];

    /// <summary>The node that ran after the owner last time.</summary>
    public T? Successor { get; private set; }

    /// <summary>Points <paramref name="owner"/>'s chain at <paramref name="next"/>.</summary>
    public void Set(T owner, T? next)
    {
        if (ReferenceEquals(Successor, next)) return;
        Successor?.Link.predecessors?.Remove(owner);
        Successor = next;
        if (next is not null) (next.Link.predecessors ??= []).Add(owner);
    }

    /// <summary>Cuts every chain into and out of <paramref name="owner"/>.</summary>
    public void Unlink(T owner)
    {
        if (predecessors is not null)
            foreach (T p in predecessors) p.Link.Successor = null;
        predecessors = null;
        Set(owner, null);
    }
}
