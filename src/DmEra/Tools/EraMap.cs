using DmEra.Metadata.Era.Tools;
using DmEra.Metadata.Era.Xml;

namespace DmEra.Tools;

/// <summary>
/// The device as a grid for a heat map: blocks laid out in rows, several blocks per cell when the device
/// has more blocks than the image has cells. A cell's value is the newest era any of its blocks was
/// written in, or with a threshold era, the fraction of its blocks written since then (0 = unchanged).
/// </summary>
public sealed class EraMap
{
    private EraMap(double[,] cells, long blocksPerCell, uint nrBlocks, uint currentEra, uint? since)
    {
        Cells = cells;
        BlocksPerCell = blocksPerCell;
        NrBlocks = nrBlocks;
        CurrentEra = currentEra;
        Since = since;
    }

    /// <summary>[row, column]; row 0 holds the first blocks.</summary>
    public double[,] Cells { get; }
    public long BlocksPerCell { get; }
    public uint NrBlocks { get; }
    public uint CurrentEra { get; }
    public uint? Since { get; }

    public static EraMap Build(EraMetadataReader reader, uint? since, int maxColumns, int maxRows)
    {
        var n = Math.Max(1L, reader.NrBlocks);
        // Square-ish: as many columns as rows, no more cells than blocks.
        var columns = (int)Math.Clamp(Math.Ceiling(Math.Sqrt(n)), 1, maxColumns);
        var blocksPerCell = Math.Max(1L, (long)Math.Ceiling((double)n / ((long)columns * maxRows)));
        var cellsNeeded = (n + blocksPerCell - 1) / blocksPerCell;
        var rows = (int)Math.Max(1, (cellsNeeded + columns - 1) / columns);
        var grid = new Grid(new double[rows, columns], columns, blocksPerCell, since);
        MetadataDumper.Dump(reader, grid, logical: true);
        grid.Finish();
        return new EraMap(grid.Cells, blocksPerCell, reader.NrBlocks, reader.CurrentEra, since);
    }

    /// <summary>Folds the logical dump's one era per block into cells.</summary>
    private sealed class Grid(double[,] cells, int columns, long blocksPerCell, uint? since) : IEraMetadataVisitor
    {
        private long _cell = -1;
        private double _value;
        private long _count;

        public double[,] Cells => cells;

        public void Era(uint block, uint era)
        {
            var cell = block / blocksPerCell;
            if (cell != _cell) Flush(cell);
            _count++;
            _value = since is { } s ? _value + (era >= s ? 1 : 0) : Math.Max(_value, era);
        }

        private void Flush(long next)
        {
            if (_cell >= 0)
                cells[_cell / columns, _cell % columns] = since is null ? _value : _value / _count;
            _cell = next;
            _value = 0;
            _count = 0;
        }

        public void Finish() => Flush(-1);

        public void SuperblockBegin(string uuid, uint blockSize, uint nrBlocks, uint currentEra) { }
        public void WritesetBegin(uint era, uint nrBits) { }
        public void WritesetBit(uint block, bool value) { }
        public void WritesetMarked(uint blockBegin, uint length) { }
        public void WritesetEnd() { }
        public void EraArrayBegin() { }
        public void EraArrayEnd() { }
        public void SuperblockEnd() { }
    }
}
