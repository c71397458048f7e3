namespace Conclave.Simulator;

public static class Program
{
    public static int Main(string[] args)
    {
        Console.Error.WriteLine("simulator: not written yet");
        return 1;
    }
}
