namespace Conclave.Raft;

/// <summary>
/// The Append messages in flight to one follower, oldest first, as (last index, bytes) pairs in a
/// ring buffer. Full when either the count or the byte budget is used up.
/// </summary>
internal sealed class Inflights
{
    private readonly (ulong Index, ulong Bytes)[] _buffer;
    private readonly ulong _maxBytes;
    private int _start;

    public Inflights(int capacity, ulong maxBytes)
    {
        _buffer = new (ulong, ulong)[capacity];
        _maxBytes = maxBytes;
    }

    public Inflights Clone()
    {
        var copy = new Inflights(_buffer.Length, _maxBytes) { Count = Count, Bytes = Bytes };
        for (var i = 0; i < Count; i++)
        {
            copy._buffer[i] = _buffer[(_start + i) % _buffer.Length];
        }

        return copy;
    }

    public int Count { get; private set; }

    public ulong Bytes { get; private set; }

    public bool Full => Count == _buffer.Length || (_maxBytes != 0 && Bytes >= _maxBytes);

    /// <summary>Records a message whose last entry is index; indexes must increase.</summary>
    public void Add(ulong index, ulong bytes)
    {
        if (Count == _buffer.Length)
        {
            throw new InvalidOperationException("raft: cannot add into a full inflights window");
        }

        _buffer[(_start + Count) % _buffer.Length] = (index, bytes);
        Count++;
        Bytes += bytes;
    }

    /// <summary>Frees every message whose last index is at or below index (acknowledged).</summary>
    public void FreeLE(ulong index)
    {
        while (Count > 0 && _buffer[_start].Index <= index)
        {
            Bytes -= _buffer[_start].Bytes;
            _start = (_start + 1) % _buffer.Length;
            Count--;
        }

        if (Count == 0)
        {
            _start = 0;
        }
    }

    public void Reset()
    {
        Count = 0;
        Bytes = 0;
        _start = 0;
    }
}
