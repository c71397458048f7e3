using System.Reflection;
using Google.Protobuf;
using Grpc.AspNetCore.Server.Model;
using Grpc.Core;

namespace Conclave.Api.Etcd;

/// <summary>
/// Requests whose protobuf does not parse get <see cref="StatusCode.Internal"/> "grpc: error
/// unmarshalling request: ..." as from etcd (grpc-go), instead of grpc-dotnet's
/// <see cref="StatusCode.Unknown"/> "Exception was thrown by handler." and an error logged for
/// every bad packet. The check is the one parse grpc-dotnet does anyway: every request marshaller
/// is wrapped (<see cref="Wrap{T}"/>) so a parse failure throws the etcd status as an
/// <see cref="RpcException"/>, which grpc-dotnet sends as the call's status (for a single request
/// before the handler runs; for a request stream from the handler's MoveNext).
/// </summary>
internal static class MalformedRequests
{
    public static RpcException Error(InvalidProtocolBufferException e) =>
        new(new Status(StatusCode.Internal, $"grpc: error unmarshalling request: {e.Message}"));

    /// <summary><paramref name="inner"/> with a deserializer that reports a parse failure as <see cref="Error"/>.</summary>
    public static Marshaller<T> Wrap<T>(Marshaller<T> inner) => new(
        inner.ContextualSerializer,
        context =>
        {
            try
            {
                return inner.ContextualDeserializer(context);
            }
            catch (InvalidProtocolBufferException e)
            {
                throw Error(e);
            }
        });
}

/// <summary>
/// Binds a generated gRPC service as grpc-dotnet's own provider does (the generated BindService
/// names the methods; the implementation's public method of the same name serves each), but with
/// the request marshaller wrapped by <see cref="MalformedRequests.Wrap{T}"/>. It replaces
/// grpc-dotnet's provider (see <see cref="EtcdFrontEnd.AddEtcdFrontEnd"/>): both would map the same routes.
/// </summary>
internal sealed class MalformedRequestMethodProvider<TService> : IServiceMethodProvider<TService>
    where TService : class
{
    public void OnServiceMethodDiscovery(ServiceMethodProviderContext<TService> context)
    {
        for (var type = typeof(TService); type is not null; type = type.BaseType)
        {
            if (type.GetCustomAttribute<BindServiceMethodAttribute>(inherit: false) is not { } bind)
            {
                continue;
            }
            var method = bind.BindType.GetMethods(BindingFlags.Public | BindingFlags.Static)
                .Single(m => m.Name == bind.BindMethodName && m.GetParameters() is [var first, var second]
                    && first.ParameterType == typeof(ServiceBinderBase) && second.ParameterType.IsAssignableFrom(typeof(TService)));
            method.Invoke(null, [new Binder(context), null]);
            return;
        }
    }

    /// <summary>Receives the generated methods (handlers are null: the service is created per call) and adds them wrapped.</summary>
    private sealed class Binder(ServiceMethodProviderContext<TService> context) : ServiceBinderBase
    {
        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, UnaryServerMethod<TRequest, TResponse>? handler) =>
            context.AddUnaryMethod(
                Wrapped(method),
                Metadata(method, out var target, typeof(TRequest), typeof(ServerCallContext)),
                target.CreateDelegate<UnaryServerMethod<TService, TRequest, TResponse>>());

        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ServerStreamingServerMethod<TRequest, TResponse>? handler) =>
            context.AddServerStreamingMethod(
                Wrapped(method),
                Metadata(method, out var target, typeof(TRequest), typeof(IServerStreamWriter<TResponse>), typeof(ServerCallContext)),
                target.CreateDelegate<ServerStreamingServerMethod<TService, TRequest, TResponse>>());

        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ClientStreamingServerMethod<TRequest, TResponse>? handler) =>
            context.AddClientStreamingMethod(
                Wrapped(method),
                Metadata(method, out var target, typeof(IAsyncStreamReader<TRequest>), typeof(ServerCallContext)),
                target.CreateDelegate<ClientStreamingServerMethod<TService, TRequest, TResponse>>());

        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, DuplexStreamingServerMethod<TRequest, TResponse>? handler) =>
            context.AddDuplexStreamingMethod(
                Wrapped(method),
                Metadata(method, out var target, typeof(IAsyncStreamReader<TRequest>), typeof(IServerStreamWriter<TResponse>), typeof(ServerCallContext)),
                target.CreateDelegate<DuplexStreamingServerMethod<TService, TRequest, TResponse>>());

        private static Method<TRequest, TResponse> Wrapped<TRequest, TResponse>(Method<TRequest, TResponse> method)
            where TRequest : class
            where TResponse : class =>
            new(method.Type, method.ServiceName, method.Name, MalformedRequests.Wrap(method.RequestMarshaller), method.ResponseMarshaller);

        /// <summary>The implementation's method for <paramref name="method"/>, and the endpoint metadata grpc-dotnet gives it (the attributes of the service type and of the method).</summary>
        private static List<object> Metadata(IMethod method, out MethodInfo target, params Type[] parameters)
        {
            target = typeof(TService).GetMethod(method.Name, BindingFlags.Public | BindingFlags.Instance, parameters)
                ?? throw new InvalidOperationException($"{typeof(TService).Name} has no public method {method.Name} for {method.FullName}");
            var metadata = new List<object>();
            metadata.AddRange(typeof(TService).GetCustomAttributes(inherit: true));
            metadata.AddRange(target.GetCustomAttributes(inherit: true));
            return metadata;
        }
    }
}
